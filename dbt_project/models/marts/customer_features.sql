-- The segmentation model's inputs: one row per customer, behaviour in plain units.

with customers as (
    select * from {{ ref('dim_customers') }}
),

lines as (
    select customer_id, order_id, quantity, line_amount, category from {{ ref('fct_sales_lines') }}
    -- Guest orders no one could be attributed to have no customer to describe.
    where customer_id is not null
),

-- Per order, then per customer: a count(distinct order_id) over every line of the
-- history was most of this model's time at 1M customers.
order_baskets as (
    select
        customer_id,
        order_id,
        sum(quantity) filter (where quantity > 0) as units_bought,
        sum(line_amount) filter (where quantity > 0) as amount_bought,
        sum(line_amount) filter (where quantity < 0) as amount_returned
    from lines
    group by customer_id, order_id
),

categories as (
    select customer_id, count(*) as category_diversity
    from (
        select distinct customer_id, category from lines
        where quantity > 0 and category is not null
    ) as bought
    group by customer_id
),

basket as (
    select
        customer_id,
        (sum(units_bought) / count(*))::double as avg_basket_size,
        (coalesce(-sum(amount_returned), 0) / nullif(sum(amount_bought), 0))::double as return_rate
    from order_baskets
    group by customer_id
),

sessions as (
    select customer_id, cart_sessions, abandoned_sessions from {{ ref('int_customer_web_stats') }}
)

select
    customers.customer_id,
    customers.recency_days,
    customers.frequency,
    customers.monetary,
    customers.tenure_days,
    coalesce(basket.avg_basket_size, 0) as avg_basket_size,
    coalesce(categories.category_diversity, 0) as category_diversity,
    customers.web_sessions,
    sessions.abandoned_sessions::double / nullif(sessions.cart_sessions, 0) as cart_abandonment_rate,
    coalesce(basket.return_rate, 0) as return_rate,
    customers.region,
    customers.country,
    customers.age_band,
    customers.as_of_date
from customers
left join basket using (customer_id)
left join categories using (customer_id)
left join sessions using (customer_id)
