with source as (
    {{ landing_rows('reviews') }}
),

numbered as (
    {{ copy_numbered('source', [
        'review_id', 'created_at', 'customer_id', 'product_id', 'order_id', 'rating', 'title', 'body',
        'language'
    ]) }}
),

typed as (
    select
        review_id,
        reference.parse_ts(created_at) as created_at,
        customer_id,
        product_id,
        order_id,
        reference.parse_number(rating) as rating_value,
        title,
        body,
        lower(language) as language,
        created_at as created_at_raw,
        rating as rating_raw,
        {{ delivery_columns() }}
    from numbered
),

checked as (
    select
        * exclude (rating_value),
        try_cast(rating_value as integer) as rating,
        case
            when review_id is null or created_at_raw is null then 'missing_required_key'
            {{ timestamp_reasons('created_at') }}
            when rating_raw is not null and (rating_value is null or rating_value not in (1, 2, 3, 4, 5))
                then 'invalid_rating'
            when copy_number > 1 then 'duplicate_row'
        end as _dq_reason
    from typed
)

select * exclude (created_at_raw, rating_raw, copy_number) {{ raw_if_quarantined() }} from checked
