-- One row per order with its totals (built incrementally in int_orders), stamped
-- with the day the warehouse describes. A view: the stamp changes every day, the
-- orders do not.

{{ config(materialized='view') }}

select
    order_id,
    customer_id,
    ordered_at,
    order_date,
    status,
    channel,
    currency,
    items_count,
    units,
    order_amount,
    returned_amount,
    -- The purchase rule, written once: an order that sells something. A cancelled
    -- order, or a credit note (an order of returns only, as retail systems book
    -- them), is not a visit: it moves neither recency nor frequency.
    status <> 'cancelled' and order_amount > 0 as is_purchase,
    _landing_date,
    {{ as_of_date() }} as as_of_date
from {{ ref('int_orders') }}
