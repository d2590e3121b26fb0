-- The lines of every order that was not cancelled: sales, and returns as negative
-- quantities, with the order's customer and day and the product's category (null when
-- the catalog does not know the product). The one definition of a sold line that the
-- sales marts aggregate (fct_daily_sales per day, customer_features per customer).
-- A view: DuckDB inlines it into each of them.

{{ config(materialized='view') }}

with orders as (
    select order_id, customer_id, order_date from {{ ref('fct_orders') }}
    where status <> 'cancelled'
),

items as (
    select order_id, product_id, quantity, unit_price from {{ ref('int_order_items') }}
),

products as (
    select product_id, category from {{ ref('dim_products') }}
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        orders.order_date,
        items.product_id,
        {{ exact('items.quantity') }} as quantity,
        {{ exact('items.quantity * items.unit_price') }} as line_amount,
        products.category
    from orders
    join items using (order_id)
    left join products using (product_id)
)

select * from final
