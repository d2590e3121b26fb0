with source as (
    {{ landing_rows('orders') }}
),

numbered as (
    {{ copy_numbered('source', ['order_id', 'customer_id', 'email', 'ordered_at', 'status', 'channel', 'currency']) }}
),

statuses as (
    {{ enum_domain('order_status') }}
),

typed as (
    select
        source.order_id,
        -- Empty for a guest checkout: the order still counts (fct_orders attributes it
        -- by e-mail when the CRM knows the address).
        source.customer_id,
        reference.clean_email(source.email) as email,
        reference.parse_ts(source.ordered_at) as ordered_at,
        statuses.value as status,
        lower(source.channel) as channel,
        upper(source.currency) as currency,
        source.ordered_at as ordered_at_raw,
        source.status as status_raw,
        {{ repaired_fields({
            'email': rejected('clean_email', 'source.email'),
        }) }} as _dq_repaired,
        {{ delivery_columns('source') }}
    from numbered as source
    left join statuses on reference.enum_key(source.status) = statuses.raw_value
),

checked as (
    select
        *,
        {% call dq_reason(['order_id', 'ordered_at_raw'], 'ordered_at') %}
            when status_raw is not null and status is null then 'unknown_enum'
        {% endcall %} as _dq_reason
    from typed
)

select * exclude (ordered_at_raw, status_raw, copy_number) from checked
