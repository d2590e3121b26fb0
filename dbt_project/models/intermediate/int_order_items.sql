-- The lines of each valid order, from the latest extraction day that delivered lines
-- for it (a re-delivered order replaces its lines rather than adding to them).
--
-- Incremental by order (strategy replace_keys): a run recomputes only the orders
-- whose lines can have changed: lines delivered in the run's days, lines this table
-- took from those days (a re-delivery may have removed them), and orders whose
-- validity flipped (their order, its customer or a line's product arrived, or went away).

-- depends_on: {{ ref('stg_order_items') }}, {{ ref('int_products__latest') }}
{{ config(materialized='incremental', incremental_strategy='replace_keys', unique_key='order_id') }}

with valid as (
    select order_id, product_id, quantity, unit_price, _landing_date, _file, _line
    from {{ ref('int_order_items__validated') }}
    where _dq_reason is null
),

{% if is_incremental() %}
affected as (
    {{ keys_in_run_window(ref('stg_order_items'), 'order_id') }}
    union
    -- Orders whose lines turned valid (their order arrived) or orphan (it went away).
    {{ keys_turned_valid_or_orphan('valid', ref('int_order_items__validated'), 'order_id') }}
    union
    -- Orders whose lines' product flag changed (the catalog caught up, or dropped one).
    {{ orders_with_product_flag_changes() }}
),
{% endif %}

scoped as (
    select * from valid
    {% if is_incremental() %}semi join affected using (order_id){% endif %}
),

lines as (
    select scoped.*
    from scoped
    qualify _landing_date = max(_landing_date) over (partition by order_id)
)

{{ with_tombstones('lines', 'order_id', 'affected') }}
