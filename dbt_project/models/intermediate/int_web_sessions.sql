-- One row per web session: who, when, what happened (cart abandonment = a cart
-- without a purchase in the same session). A view over the stitched events.

{{ config(materialized='view') }}

select
    session_key,
    max(resolved_customer_id) as customer_id,
    min(occurred_at) as started_at,
    max(occurred_at) as ended_at,
    count(*) as events,
    count(*) filter (where event_type = 'product_view') as product_views,
    count(*) filter (where event_type = 'add_to_cart') as cart_adds,
    count(*) filter (where event_type = 'purchase') as purchases,
    count(*) filter (where event_type = 'add_to_cart') > 0
        and count(*) filter (where event_type = 'purchase') = 0 as is_abandoned_cart
from {{ ref('int_web_events__stitched') }}
group by session_key
