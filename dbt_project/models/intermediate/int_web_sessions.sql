-- One row per web session: who, when, what happened (cart abandonment = a cart
-- without a purchase in the same session). A view over the session parts, resolving
-- the customer on read: per event the logged-in customer, else the customer its
-- anonymous_id resolves to (int_identity_map); per session the largest of those.

{{ config(materialized='view') }}

with parts as (
    select
        parts.*,
        -- greatest() skips NULLs: the logged-in customer and, when some events were
        -- anonymous, the resolved one (the max over the part's events).
        greatest(
            parts.logged_in_customer_id,
            case when parts.has_anonymous_events then identities.customer_id end
        ) as resolved_customer_id
    from {{ ref('int_web_session_parts') }} as parts
    left join {{ ref('int_identity_map') }} as identities using (anonymous_id)
)

select
    session_key,
    max(resolved_customer_id) as customer_id,
    min(started_at) as started_at,
    max(ended_at) as ended_at,
    sum(events)::bigint as events,
    sum(product_views)::bigint as product_views,
    sum(cart_adds)::bigint as cart_adds,
    sum(purchases)::bigint as purchases,
    sum(cart_adds) > 0 and sum(purchases) = 0 as is_abandoned_cart
from parts
group by session_key
