-- Web events with the resolved customer (stitched from anonymous sessions) and a
-- session key: the delivered session_id, or sessions cut after an inactivity gap.

with events as (
    select * from {{ ref('stg_web_events') }}
    where _dq_reason is null
),

identities as (
    select * from {{ ref('int_identity_map') }}
),

stitched as (
    select
        events.*,
        coalesce(events.customer_id, identities.customer_id) as resolved_customer_id,
        coalesce(events.customer_id, events.anonymous_id, events.session_id) as visitor_key
    from events
    left join identities using (anonymous_id)
),

gaps as (
    select
        *,
        case
            when lag(occurred_at) over (partition by visitor_key order by occurred_at, event_id) is null
              or occurred_at - lag(occurred_at) over (partition by visitor_key order by occurred_at, event_id)
                 > to_minutes({{ var('session_gap_minutes') }})
            then 1 else 0
        end as starts_session
    from stitched
)

select
    * exclude (starts_session),
    coalesce(
        session_id,
        visitor_key || '#' || sum(starts_session) over (
            partition by visitor_key order by occurred_at, event_id rows unbounded preceding
        )
    ) as session_key
from gaps
