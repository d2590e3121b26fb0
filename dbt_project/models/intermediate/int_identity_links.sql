-- Evidence for identity resolution: how often each anonymous_id was seen logged in
-- as each customer, per extraction day. Incremental per day (delete+insert of the
-- run's days), so the daily cost does not grow with the history; the resolution
-- itself (int_identity_map) aggregates these small rows.

{{ config(materialized='incremental', pre_hook="{{ delete_run_window() }}") }}

select
    _landing_date,
    anonymous_id,
    customer_id,
    count(*) as events,
    max(occurred_at) as last_seen_at
from {{ ref('stg_web_events') }}
where _dq_reason is null
    and anonymous_id is not null
    and customer_id is not null
    and {{ in_run_window() }}
group by _landing_date, anonymous_id, customer_id
