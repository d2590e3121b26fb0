-- Every landing row that could not be repaired, with the reason: rows DuckDB could
-- not parse, rows failing a staging rule, and orphans found across sources.
-- A view over the staging partitions (and the orphan checks), so it always matches
-- them and a daily run rewrites nothing.

{{ config(materialized='view') }}

{% set staged = ['customers', 'products', 'orders', 'order_items', 'web_events', 'reviews', 'support_tickets'] %}

with unparseable as (
    select source, _landing_date, _file, _line, reason, raw
    from {{ source('landing', 'parse_rejects') }}
),

{% for name in staged %}
rejected_{{ name }} as (
    select '{{ name }}' as source, _landing_date, _file, _line, _dq_reason as reason, _raw as raw
    from {{ ref('stg_' ~ name) }}
    where _dq_reason is not null
),
{% endfor %}

-- The validated tables keep no raw row: staging has it.
orphans as (
    select 'orders' as source, orphan._landing_date, orphan._file, orphan._line, orphan._dq_reason as reason, staged._raw as raw
    from {{ ref('int_orders__validated') }} as orphan
    join {{ ref('stg_orders') }} as staged using (_file, _line)
    where orphan._dq_reason is not null
    union all
    select 'order_items', orphan._landing_date, orphan._file, orphan._line, orphan._dq_reason, staged._raw
    from {{ ref('int_order_items__validated') }} as orphan
    join {{ ref('stg_order_items') }} as staged using (_file, _line)
    where orphan._dq_reason is not null
)

select * from unparseable
{% for name in staged %}
union all select * from rejected_{{ name }}
{% endfor %}
union all select * from orphans
