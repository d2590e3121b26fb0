-- Every valid order line, flagged when its order never arrived (or was quarantined).
--
-- A table maintained by order (strategy replace_keys), like int_orders__validated:
-- a run re-checks the lines delivered in its days, the lines this table took from
-- them, and the orders whose lines' flag no longer matches int_orders__validated
-- (the order arrived, or went away). The raw row stays in staging.

{{ config(materialized='incremental', incremental_strategy='replace_keys', unique_key='order_id') }}

with known_orders as (
    select distinct order_id, true as is_known from {{ ref('int_orders__validated') }}
    where _dq_reason is null
),

{% if is_incremental() %}
affected as (
    {{ keys_in_run_window(ref('stg_order_items'), 'order_id') }}
    union
    -- One pass over the stored lines: an order's lines share its flag.
    select stored.order_id
    from (
        select order_id, bool_and(_dq_reason is null) as was_known from {{ this }} group by order_id
    ) as stored
    left join known_orders using (order_id)
    where stored.was_known <> coalesce(known_orders.is_known, false)
),
{% endif %}

items as (
    select * exclude (_raw)
    from {{ ref('stg_order_items') }}
    {% if is_incremental() %}semi join affected using (order_id){% endif %}
    where _dq_reason is null
),

validated as (
    select
        items.* exclude (_dq_reason),
        -- Tested on a flag rather than on "order_id is null": DuckDB 2.0 fails to bind a
        -- filter such as _dq_reason = 'x' pushed into the latter form.
        case when known_orders.is_known then null else 'orphan_order' end as _dq_reason
    from items
    left join known_orders using (order_id)
)

{{ with_tombstones('validated', 'order_id', 'affected') }}
