-- Identity resolution for web visitors: an anonymous_id belongs to the customer who
-- logged in with it (the customer seen most often with it; the latest seen, then the
-- smallest id, wins ties), over all days: an anonymous session is stitched to the
-- customer who logs in later, and a backfilled day can change the answer.

with logged_in as (
    select anonymous_id, customer_id, sum(events) as events, max(last_seen_at) as last_seen_at
    from {{ ref('int_identity_links') }}
    group by anonymous_id, customer_id
),

ranked as (
    select
        *,
        row_number() over (
            partition by anonymous_id order by events desc, last_seen_at desc, customer_id asc
        ) as match_rank
    from logged_in
)

select anonymous_id, customer_id, events as matched_events
from ranked
where match_rank = 1
