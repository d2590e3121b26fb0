-- Every valid order line, flagged when its order never arrived (or was quarantined).
-- A view: whether the order is known depends on every order delivery, so it is
-- evaluated on read rather than rewriting every line each day.

{{ config(materialized='view') }}

with items as (
    select * from {{ ref('stg_order_items') }}
    where _dq_reason is null
),

known_orders as (
    select distinct order_id, true as is_known from {{ ref('int_orders__validated') }}
    where _dq_reason is null
)

select
    items.* exclude (_dq_reason),
    -- Tested on a flag rather than on "order_id is null": DuckDB 2.0 fails to bind a
    -- filter such as _dq_reason = 'x' pushed into the latter form.
    case when known_orders.is_known then null else 'orphan_order' end as _dq_reason
from items
left join known_orders using (order_id)
