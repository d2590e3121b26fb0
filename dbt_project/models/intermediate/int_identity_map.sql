-- Identity resolution for web visitors: an anonymous_id belongs to the customer who
-- logged in with it (the customer seen most often with it; latest wins ties).

with logged_in as (
    select anonymous_id, customer_id, count(*) as events, max(occurred_at) as last_seen_at
    from {{ ref('stg_web_events') }}
    where _dq_reason is null
      and anonymous_id is not null
      and customer_id is not null
    group by anonymous_id, customer_id
),

ranked as (
    select
        *,
        row_number() over (
            partition by anonymous_id order by events desc, last_seen_at desc, customer_id
        ) as match_rank
    from logged_in
)

select anonymous_id, customer_id, events as matched_events
from ranked
where match_rank = 1
