-- Each session's events of one extraction day, aggregated per anonymous_id: what
-- int_web_sessions adds up. Incremental per extraction day like the events, so a
-- daily run aggregates the day's events only, and the sessions of the whole history
-- are summed from about one row per session instead of every event.
--
-- The customer stays unresolved here: logged_in_customer_id is the logged-in customer
-- of the part's events, and has_anonymous_events says whether some of them need the
-- identity map, which int_web_sessions applies on read (a later login re-attributes).

{{ config(materialized='incremental', pre_hook="{{ delete_run_window() }}") }}

with events as (
    select session_key, anonymous_id, customer_id, event_type, occurred_at, _landing_date
    from {{ ref('int_web_events__sessionised') }}
    where {{ in_run_window() }}
)

select
    session_key,
    _landing_date,
    anonymous_id,
    max(customer_id) as logged_in_customer_id,
    bool_or(customer_id is null) as has_anonymous_events,
    min(occurred_at) as started_at,
    max(occurred_at) as ended_at,
    count(*) as events,
    count(*) filter (where event_type = 'product_view') as product_views,
    count(*) filter (where event_type = 'add_to_cart') as cart_adds,
    count(*) filter (where event_type = 'purchase') as purchases
from events
group by session_key, _landing_date, anonymous_id
