with source as (
    {{ landing_rows('web_events') }}
),

numbered as (
    {{ copy_numbered('source', [
        'event_id', 'occurred_at', 'event_type', 'session_id', 'customer_id', 'anonymous_id',
        'product_id', 'search_query', 'device'
    ]) }}
),

-- Each distinct delivered spelling is mapped once, not every event's.
event_types as (
    select delivered.event_type as delivered_value, enum_values.value
    from (select distinct event_type from source) as delivered
    inner join {{ ref('enum_values') }} as enum_values
        on enum_values.domain = 'event_type' and reference.enum_key(delivered.event_type) = enum_values.raw_value
),

typed as (
    select
        source.event_id,
        reference.parse_ts(source.occurred_at) as occurred_at,
        event_types.value as event_type,
        source.session_id,
        source.customer_id,
        source.anonymous_id,
        source.product_id,
        source.search_query,
        lower(source.device) as device,
        source.occurred_at as occurred_at_raw,
        source.event_type as event_type_raw,
        {{ delivery_columns('source') }}
    from numbered as source
    left join event_types on source.event_type = event_types.delivered_value
),

checked as (
    select
        *,
        {% call dq_reason(['event_id', 'occurred_at_raw', 'event_type_raw'], 'occurred_at') %}
            when event_type is null then 'unknown_enum'
        {% endcall %} as _dq_reason
    from typed
)

select * exclude (occurred_at_raw, event_type_raw, copy_number) {{ raw_if_quarantined() }} from checked
