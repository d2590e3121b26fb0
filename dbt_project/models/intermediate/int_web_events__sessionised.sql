-- Clean web events with a visitor key and a session key, one partition per extraction
-- day (delete+insert of the run's days, like staging): a daily run touches only the
-- day's events, whatever the history. Identity resolution is applied on read
-- (int_web_events__stitched), because a later login re-attributes earlier events.
--
-- session_key: the delivered session_id; events without one are cut into sessions
-- after an inactivity gap, per visitor, among the events of the same delivery
-- (a session that straddles two deliveries without a session_id is split).

{{ config(materialized='incremental', pre_hook="{{ delete_run_window() }}") }}

with events as (
    select
        event_id, occurred_at, event_type, session_id, customer_id, anonymous_id, product_id,
        search_query, device, _landing_date, _file, _line,
        coalesce(customer_id, anonymous_id) as visitor_key
    from {{ ref('stg_web_events') }}
    where _dq_reason is null
        and {{ in_run_window() }}
),

unsessioned as (
    select
        event_id, _landing_date, _file, _line, visitor_key, occurred_at,
        coalesce(
            occurred_at - lag(occurred_at) over visit > to_minutes({{ var('session_gap_minutes') }}),
            true
        ) as starts_session
    from events
    where session_id is null and visitor_key is not null
    window visit as (partition by _landing_date, visitor_key order by occurred_at, _file, _line)
),

numbered as (
    select
        *,
        sum(starts_session::integer) over (
            partition by _landing_date, visitor_key order by occurred_at, _file, _line
            rows unbounded preceding
        ) as session_number
    from unsessioned
),

gap_sessions as (
    select
        _file, _line,
        visitor_key || '#' || strftime(
            min(occurred_at) over (partition by _landing_date, visitor_key, session_number),
            '%Y-%m-%dT%H:%M:%S'
        ) as gap_session_key
    from numbered
)

select
    events.event_id,
    events.occurred_at,
    events.event_type,
    events.session_id,
    events.customer_id,
    events.anonymous_id,
    events.product_id,
    events.search_query,
    events.device,
    events.visitor_key,
    -- An event with neither a session nor a visitor is a session of its own.
    coalesce(events.session_id, gap_sessions.gap_session_key, 'event#' || events._file || '#' || events._line)
        as session_key,
    events._landing_date,
    events._file,
    events._line
from events
left join gap_sessions using (_file, _line)
