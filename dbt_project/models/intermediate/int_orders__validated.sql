-- Every valid order version, flagged when its customer is unknown to the CRM.
-- The orphan check only applies when the shop delivers a CRM at all: a landing
-- zone without customers is legal, and its orders then define the customers.
-- A view: orphan status depends on every CRM delivery, so it is evaluated on read
-- rather than rewriting every order each day.

{{ config(materialized='view') }}

with orders as (
    select * from {{ ref('stg_orders') }}
    where _dq_reason is null
),

crm as (
    select distinct customer_id from {{ ref('stg_customers') }}
    where _dq_reason is null
),

crm_delivered as (
    select count(*) > 0 as has_crm from crm
)

select
    orders.* exclude (_dq_reason),
    case
        when crm_delivered.has_crm and crm.customer_id is null then 'orphan_customer'
    end as _dq_reason
from orders
cross join crm_delivered
left join crm using (customer_id)
