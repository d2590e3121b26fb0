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
    _landing_date,
    {{ as_of_date() }} as as_of_date
from {{ ref('int_orders') }}
