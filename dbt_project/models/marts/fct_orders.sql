-- One row per order with its totals (built incrementally in int_orders), stamped
-- with the day the warehouse describes. A view: the stamp changes every day, the
-- orders do not, and a guest order's attribution follows the CRM as it is today.
--
-- A guest order (no customer_id delivered) counts like any other; it is attributed to
-- the CRM customer whose cleaned e-mail equals the order's exactly (of several CRM
-- customers holding that address, the smallest id: the identity stage merges them),
-- else its customer_id stays NULL and per-customer measures leave it out.

{{ config(materialized='view') }}

with orders as (
    select * from {{ ref('int_orders') }}
),

crm_emails as (
    select email, min(customer_id) as customer_id
    from {{ ref('int_customers__latest') }}
    where email is not null
    group by email
),

final as (
    select
        orders.order_id,
        coalesce(orders.customer_id, crm_emails.customer_id) as customer_id,
        orders.customer_id is null as is_guest_checkout,
        orders.ordered_at,
        orders.order_date,
        orders.status,
        orders.channel,
        orders.currency,
        orders.items_count,
        orders.units,
        orders.order_amount,
        orders.returned_amount,
        -- The purchase rule, written once: an order that sells something. A cancelled
        -- order, or a credit note (an order of returns only, as retail systems book
        -- them), is not a visit: it moves neither recency nor frequency.
        orders.status <> 'cancelled' and orders.order_amount > 0 as is_purchase,
        orders._landing_date,
        {{ as_of_date() }} as as_of_date
    from orders
    left join crm_emails
        on orders.customer_id is null and orders.email = crm_emails.email
)

select * from final
