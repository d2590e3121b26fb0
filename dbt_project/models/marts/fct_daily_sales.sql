-- Daily sales per series ('total' and each product category): the forecaster's input.
-- Revenue is net of returns; days without any sale have no row.

with lines as (
    select
        orders.order_date as ds,
        orders.order_id,
        {{ exact('items.quantity') }} as quantity,
        {{ exact('items.quantity * items.unit_price') }} as amount,
        coalesce(products.category, 'uncategorised') as category
    from {{ ref('fct_orders') }} as orders
    join {{ ref('int_order_items') }} as items using (order_id)
    left join {{ ref('dim_products') }} as products using (product_id)
    where orders.status <> 'cancelled'
),

total as (
    select ds, 'total' as series, sum(amount) as revenue,
           count(distinct order_id) filter (where quantity > 0) as orders, sum(quantity) as units
    from lines
    group by ds
),

by_category as (
    select ds, category as series, sum(amount) as revenue,
           count(distinct order_id) filter (where quantity > 0) as orders, sum(quantity) as units
    from lines
    group by ds, category
)

select ds, series, round(revenue, 2)::double as revenue, orders, units::double as units from total
union all
select ds, series, round(revenue, 2)::double, orders, units::double from by_category
