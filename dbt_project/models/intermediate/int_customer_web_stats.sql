-- Web activity per resolved customer (first visit, sessions, carts, abandoned carts),
-- summed once per run from the resolved sessions for dim_customers and customer_features.

select
    customer_id,
    min(started_at) as first_visit_at,
    count(*) as web_sessions,
    count(*) filter (where cart_adds > 0) as cart_sessions,
    count(*) filter (where is_abandoned_cart) as abandoned_sessions
from {{ ref('int_web_sessions') }}
where customer_id is not null
group by customer_id
