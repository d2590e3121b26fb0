-- Customer x product events for the recommender: purchases and returns from orders,
-- views and carts from the (stitched) web events, and review ratings.
-- A view: identity resolution and order statuses change retroactively, so the
-- table is assembled on read from the incremental parts instead of rewritten daily.

{{ config(materialized='view') }}

with purchases as (
    select
        orders.customer_id,
        items.product_id,
        case when items.quantity > 0 then 'purchase' else 'return' end as interaction_type,
        orders.ordered_at as occurred_at,
        abs(items.quantity) as quantity,
        null::integer as rating
    from {{ ref('fct_orders') }} as orders
    join {{ ref('int_order_items') }} as items using (order_id)
    -- Guest orders no one could be attributed to are no customer's interactions.
    where orders.status <> 'cancelled' and orders.customer_id is not null
),

web as (
    select
        resolved_customer_id as customer_id,
        product_id,
        event_type as interaction_type,
        occurred_at,
        1.0 as quantity,
        null::integer as rating
    from {{ ref('int_web_events__stitched') }}
    where event_type in ('product_view', 'add_to_cart')
        and resolved_customer_id is not null
        and product_id is not null
),

ratings as (
    select customer_id, product_id, 'rating', created_at, 1.0, rating
    from {{ ref('stg_reviews') }}
    where _dq_reason is null and rating is not null and customer_id is not null and product_id is not null
)

select * from purchases
union all
select * from web
union all
select * from ratings
