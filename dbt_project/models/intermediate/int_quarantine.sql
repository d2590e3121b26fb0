-- Every landing row that could not be repaired, with the reason: records that did
-- not parse, rows failing a staging rule, orphans found across sources, and one row
-- (line 0, reason unreadable_file) per file that could not be read at all. `detail`
-- says more where the ingest step knows more (the column, the decoder's error).
-- A view over the staging partitions (and the orphan checks), so it always matches
-- them and a daily run rewrites nothing.

{{ config(materialized='view') }}

{% set staged = ['customers', 'products', 'orders', 'order_items', 'web_events', 'reviews', 'support_tickets'] %}

with unparseable as (
    select source, _landing_date, _file, _line, reason, raw, detail
    from {{ source('landing', 'parse_rejects') }}
),

unreadable_files as (
    select source, _landing_date, _file, 0::bigint as _line, reason, null::varchar as raw, detail
    from {{ source('landing', 'deliveries') }}
    where status = 'unreadable'
),

{% for name in staged %}
    rejected_{{ name }} as (
        select
            '{{ name }}' as source, _landing_date, _file, _line, _dq_reason as reason, _raw as raw,
            null::varchar as detail
        from {{ ref('stg_' ~ name) }}
        where _dq_reason is not null
    ),
{% endfor %}

-- The validated tables keep no raw row: staging has it.
orphans as (
    select
        'orders' as source,
        orphan._landing_date,
        orphan._file,
        orphan._line,
        orphan._dq_reason as reason,
        staged._raw as raw,
        null::varchar as detail
    from {{ ref('int_orders__validated') }} as orphan
    join {{ ref('stg_orders') }} as staged using (_file, _line)
    where orphan._dq_reason is not null
    union all
    select
        'order_items', orphan._landing_date, orphan._file, orphan._line, orphan._dq_reason, staged._raw, null::varchar
    from {{ ref('int_order_items__validated') }} as orphan
    join {{ ref('stg_order_items') }} as staged using (_file, _line)
    where orphan._dq_reason is not null
)

select * from unparseable
union all
select * from unreadable_files
{% for name in staged %}
    union all
    select * from rejected_{{ name }}
{% endfor %}
union all
select * from orphans
