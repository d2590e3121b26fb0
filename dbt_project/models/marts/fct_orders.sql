-- One row per order with its totals. order_amount is the value of the sold lines;
-- returned_amount the value of return lines (negative quantities), both >= 0.

with orders as (
    select * from {{ ref('int_orders') }}
),

items as (
    select * from {{ ref('int_order_items') }}
),

order_totals as (
    select
        order_id,
        count(*) as items_count,
        sum(quantity) filter (where quantity > 0) as units,
        sum(quantity * unit_price) filter (where quantity > 0) as sold_amount,
        -sum(quantity * unit_price) filter (where quantity < 0) as returned_amount
    from items
    group by order_id
)

select
    orders.order_id,
    orders.customer_id,
    orders.ordered_at,
    cast(orders.ordered_at as date) as order_date,
    coalesce(
        orders.status,
        case when coalesce(order_totals.sold_amount, 0) = 0 and order_totals.returned_amount > 0 then 'returned' end,
        'placed'
    ) as status,
    orders.channel,
    orders.currency,
    coalesce(order_totals.items_count, 0) as items_count,
    coalesce(order_totals.units, 0) as units,
    round(coalesce(order_totals.sold_amount, 0), 2) as order_amount,
    round(coalesce(order_totals.returned_amount, 0), 2) as returned_amount,
    orders._landing_date,
    {{ as_of_date() }} as as_of_date
from orders
left join order_totals using (order_id)
