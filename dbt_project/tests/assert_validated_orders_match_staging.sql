-- int_orders__validated and int_order_items__validated are maintained by order key
-- (replace_keys). This recomputes, from staging and the CRM, which order versions and
-- lines must be there and which of them are orphans (or lines of products the catalog
-- never delivered), and returns every row where the tables disagree (missing, extra,
-- or flagged differently).
--
-- Scope as in assert_incremental_orders_match_full_rebuild: the whole history on
-- multi-day windows and weekly (var full_checks_isoweekday), otherwise the orders
-- delivered in the run's window.

{% set scoped = 'semi join window_orders using (order_id)' if order_checks_window_only() else '' %}

-- window_orders is used through `scoped`, on daily runs only.
with window_orders as (  -- noqa: ST03
    {{ orders_delivered_in_run_window() }}
),

scoped_orders as (
    select * from {{ ref('stg_orders') }} {{ scoped }}
    where _dq_reason is null
),

-- The CRM of the scoped orders' customers only: a daily check reads few customers.
crm as (
    select distinct customer_id, true as is_known from {{ ref('stg_customers') }}
    where _dq_reason is null and customer_id in (select customer_id from scoped_orders)
),

has_crm as (
    select exists(
        select 1 from {{ ref('stg_customers') }}
        where _dq_reason is null
    ) as has_crm
),

expected_orders as (
    select
        orders.order_id, orders._file, orders._line,
        -- A guest order (no customer_id) is never an orphan.
        case
            when has_crm.has_crm and orders.customer_id is not null and crm.is_known is null
                then 'orphan_customer'
        end as _dq_reason
    from scoped_orders as orders
    cross join has_crm
    left join crm using (customer_id)
),

known_orders as (
    select distinct order_id, true as is_known from expected_orders
    where _dq_reason is null
),

scoped_items as (
    select * from {{ ref('stg_order_items') }} {{ scoped }}
    where _dq_reason is null
),

catalog as (
    select distinct product_id, true as is_known from {{ ref('stg_products') }}
    where _dq_reason is null and product_id in (select product_id from scoped_items)
),

has_catalog as (
    select exists(
        select 1 from {{ ref('stg_products') }}
        where _dq_reason is null
    ) as has_catalog
),

expected_items as (
    select
        items._file, items._line,
        case
            when not coalesce(known_orders.is_known, false) then 'orphan_order'
            when has_catalog.has_catalog and catalog.is_known is null then 'unknown_product'
        end as _dq_reason
    from scoped_items as items
    cross join has_catalog
    left join known_orders using (order_id)
    left join catalog using (product_id)
),

actual_orders as (
    select _file, _line, _dq_reason from {{ ref('int_orders__validated') }} {{ scoped }}
),

actual_items as (
    select _file, _line, _dq_reason from {{ ref('int_order_items__validated') }} {{ scoped }}
)

select
    'orders' as source,
    coalesce(expected._file, actual._file) as _file,
    coalesce(expected._line, actual._line) as _line,
    expected._dq_reason as expected_reason, actual._dq_reason as actual_reason,
    expected._file is null as is_extra, actual._file is null as is_missing
from expected_orders as expected
full outer join actual_orders as actual using (_file, _line)
where expected._file is null or actual._file is null or expected._dq_reason is distinct from actual._dq_reason
union all
select
    'order_items' as source,
    coalesce(expected._file, actual._file) as _file,
    coalesce(expected._line, actual._line) as _line,
    expected._dq_reason as expected_reason, actual._dq_reason as actual_reason,
    expected._file is null as is_extra, actual._file is null as is_missing
from expected_items as expected
full outer join actual_items as actual using (_file, _line)
where expected._file is null or actual._file is null or expected._dq_reason is distinct from actual._dq_reason
