-- Every valid order version, flagged when its customer is unknown to the CRM.
-- The orphan check only applies when the shop delivers a CRM at all: a landing
-- zone without customers is legal, and its orders then define the customers. A
-- guest order (no customer_id) is no orphan: it counts, attributed (or not) in
-- fct_orders.
--
-- A table maintained by order (strategy replace_keys), because every order model,
-- the quarantine and the reconciliation read it: as a view, each of them re-checked
-- every order of the history against the CRM. A run re-checks the orders delivered
-- in its days, the versions this table took from them, and the orders whose flag
-- no longer matches the CRM (their customer arrived, or went away). The raw row stays
-- in staging; the quarantine takes it from there.

{{ config(materialized='incremental', incremental_strategy='replace_keys', unique_key='order_id') }}

-- The customers with a valid CRM version: int_customers__latest holds each once.
with crm as (
    select customer_id, true as is_known from {{ ref('int_customers__latest') }}
),

-- count(*), not exists(): DuckDB 2.0 can hang on an uncorrelated exists in a
-- cross-joined CTE of a larger query.
crm_delivered as (
    select count(*) > 0 as has_crm from crm
),

{% if is_incremental() %}
affected as (
    {{ keys_in_run_window(ref('stg_orders'), 'order_id') }}
    union
    select stored.order_id
    from {{ this }} as stored
    cross join crm_delivered
    left join crm using (customer_id)
    where (stored._dq_reason is null)
        <> (not crm_delivered.has_crm or stored.customer_id is null or crm.is_known is not null)
),
{% endif %}

orders as (
    select * exclude (_raw)
    from {{ ref('stg_orders') }}
    {% if is_incremental() %}semi join affected using (order_id){% endif %}
    where _dq_reason is null
),

validated as (
    select
        orders.* exclude (_dq_reason),
        case
            when crm_delivered.has_crm and orders.customer_id is not null and crm.is_known is null
                then 'orphan_customer'
        end as _dq_reason
    from orders
    cross join crm_delivered
    left join crm using (customer_id)
)

{{ with_tombstones('validated', 'order_id', 'affected') }}
