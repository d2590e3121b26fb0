-- The lines of each order, from the latest extraction day that delivered lines for
-- it (a re-delivered order replaces its lines rather than adding to them).

with valid as (
    select * from {{ ref('int_order_items__validated') }}
    where _dq_reason is null
),

latest_delivery as (
    select order_id, max(_landing_date) as _landing_date
    from valid
    group by order_id
)

select valid.*
from valid
join latest_delivery using (order_id, _landing_date)
