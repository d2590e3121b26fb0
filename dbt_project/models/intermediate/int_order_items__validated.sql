-- Every valid order line, flagged 'orphan_order' when its order never arrived (or was
-- quarantined), else 'unknown_product' when the shop delivers a catalog and it never
-- delivered the line's product: such a line is no sale the marts can describe, and
-- counting it in order_amount would publish revenue no product carries. A shop
-- without a catalog feed is not checked (its products are the ones its lines name).
--
-- A table maintained by order (strategy replace_keys), like int_orders__validated:
-- a run re-checks the lines delivered in its days, the lines this table took from
-- them, and the orders whose lines' flags no longer match int_orders__validated or
-- the catalog (the order or the product arrived, or went away). The raw row stays
-- in staging.

{{ config(materialized='incremental', incremental_strategy='replace_keys', unique_key='order_id') }}

with known_orders as (
    select distinct order_id, true as is_known from {{ ref('int_orders__validated') }}
    where _dq_reason is null
),

-- The products with a valid catalog version: int_products__latest holds each once.
catalog as (
    select product_id, true as is_known from {{ ref('int_products__latest') }}
),

catalog_delivered as (
    select count(*) > 0 as has_catalog from catalog
),

{% if is_incremental() %}
affected as (
    {{ keys_in_run_window(ref('stg_order_items'), 'order_id') }}
    union
    -- One pass over the stored lines: an order's lines share its orphan flag, and each
    -- line's product flag must still match the catalog.
    select stored.order_id
    from (
        select
            order_id,
            bool_and(coalesce(_dq_reason, '') <> 'orphan_order') as was_known,
            bool_or(
                coalesce(_dq_reason, '') <> 'orphan_order'
                and (_dq_reason is not null) <> (catalog_delivered.has_catalog and catalog.is_known is null)
            ) as product_flag_changed
        from {{ this }}
        cross join catalog_delivered
        left join catalog using (product_id)
        group by order_id
    ) as stored
    left join known_orders using (order_id)
    where stored.was_known <> coalesce(known_orders.is_known, false) or stored.product_flag_changed
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
        case
            when not coalesce(known_orders.is_known, false) then 'orphan_order'
            when catalog_delivered.has_catalog and catalog.is_known is null then 'unknown_product'
        end as _dq_reason
    from items
    cross join catalog_delivered
    left join known_orders using (order_id)
    left join catalog using (product_id)
)

{{ with_tombstones('validated', 'order_id', 'affected') }}
