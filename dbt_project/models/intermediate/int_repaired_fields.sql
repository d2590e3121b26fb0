-- Repairs made to clean rows, per source, extraction day and kind, so that no value is
-- changed without a count: an optional field delivered invalid and nulled (its name,
-- from staging's _dq_repaired), and 'conflicting_version' for each version of a key
-- that lost to another one with the same timestamp from the same day but other
-- contents (the latest models keep one by content hash; orders have no version
-- timestamp, so their versions of one day compete). A view: it always matches staging.

{{ config(materialized='view') }}

with nulled as (
    {% for source in ['customers', 'products', 'orders', 'reviews', 'support_tickets'] %}
        {% if not loop.first %}union all{% endif %}
        select '{{ source }}' as source, _landing_date, unnest(string_split(_dq_repaired, ',')) as repair
        from {{ ref('stg_' ~ source) }}
        where _dq_reason is null and _dq_repaired is not null
    {% endfor %}
),

versions as (
    select
        'customers' as source, _landing_date, customer_id as key, updated_at as version_at,
        {{ content_hash(version_columns('customers')) }} as content
    from {{ ref('stg_customers') }}
    where _dq_reason is null
    union all
    select 'products', _landing_date, product_id, updated_at, {{ content_hash(version_columns('products')) }}
    from {{ ref('stg_products') }}
    where _dq_reason is null
    union all
    select 'orders', _landing_date, order_id, null, {{ content_hash(version_columns('orders')) }}
    from {{ ref('stg_orders') }}
    where _dq_reason is null
),

conflicts as (
    select source, _landing_date, 'conflicting_version' as repair, count(distinct content) - 1 as rows
    from versions
    group by source, _landing_date, key, version_at
    having count(distinct content) > 1
)

select source, _landing_date, repair, count(*) as rows from nulled
group by all
union all
select source, _landing_date, repair, sum(rows)::bigint from conflicts
group by all
