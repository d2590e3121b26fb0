-- Every valid order line, flagged when its order never arrived (or was quarantined).

with items as (
    select * from {{ ref('stg_order_items') }}
    where _dq_reason is null
),

known_orders as (
    select distinct order_id from {{ ref('int_orders__validated') }}
    where _dq_reason is null
)

select
    items.* exclude (_dq_reason),
    case when known_orders.order_id is null then 'orphan_order' end as _dq_reason
from items
left join known_orders using (order_id)
