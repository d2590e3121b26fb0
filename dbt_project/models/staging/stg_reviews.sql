with source as (
    {{ landing_rows('reviews') }}
),

numbered as (
    {{ copy_numbered('source', [
        'review_id', 'created_at', 'customer_id', 'email', 'reviewer_name', 'product_id', 'order_id', 'rating',
        'title', 'body', 'language'
    ]) }}
),

typed as (
    select
        review_id,
        reference.parse_ts(created_at) as created_at,
        customer_id,
        -- A review platform may know only these (personal data: restricted zone).
        reference.clean_email(email) as email,
        reference.clean_text(reviewer_name) as reviewer_name,
        product_id,
        order_id,
        reference.parse_number(rating) as rating_value,
        title,
        body,
        lower(language) as language,
        created_at as created_at_raw,
        rating as rating_raw,
        {{ repaired_fields({
            'email': rejected('clean_email', 'numbered.email'),
            'reviewer_name': 'reference.is_structured(numbered.reviewer_name)',
        }) }} as _dq_repaired,
        {{ delivery_columns() }}
    from numbered
),

checked as (
    select
        * exclude (rating_value),
        try_cast(rating_value as integer) as rating,
        {% call dq_reason(['review_id', 'created_at_raw'], 'created_at') %}
            when rating_raw is not null and (rating_value is null or rating_value not in (1, 2, 3, 4, 5))
                then 'invalid_rating'
        {% endcall %} as _dq_reason
    from typed
)

select * exclude (created_at_raw, rating_raw, copy_number) {{ raw_if_quarantined() }} from checked
