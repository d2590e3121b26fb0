-- int_order_items and int_orders are maintained by order key (replace_keys). This
-- recomputes, from the validated views, which orders must exist, which delivery each
-- takes its version and its lines from, and how many lines it has, and returns every
-- order where the incremental tables disagree (a key the incremental runs missed:
-- stale, missing or extra). Aggregates on keys and dates only, so it stays cheap on
-- a long history; the totals themselves are unit-tested.
--
-- Scope: the whole history on multi-day windows (initial loads, catch-up) and weekly
-- (windows ending on var full_checks_isoweekday, Sunday by default), otherwise the
-- orders delivered in the run's window (a daily run's merge is what can go wrong that
-- day), so a day does not re-read every order of the history.

{% set scoped = 'and order_id in (select order_id from window_orders)' if order_checks_window_only() else '' %}

-- window_orders is used through `scoped`, on daily runs only.
with window_orders as (  -- noqa: ST03
    {{ orders_delivered_in_run_window() }}
),

expected_versions as (
    select order_id, max(_landing_date) as _landing_date
    from {{ ref('int_orders__validated') }}
    where _dq_reason is null {{ scoped }}
    group by order_id
),

line_days as (
    select order_id, _landing_date, count(*) as lines
    from {{ ref('int_order_items__validated') }}
    where _dq_reason is null {{ scoped }}
    group by order_id, _landing_date
),

expected_lines as (
    select order_id, max(_landing_date) as _items_landing_date, arg_max(lines, _landing_date) as items_count
    from line_days
    group by order_id
),

expected as (
    select
        expected_versions.order_id,
        expected_versions._landing_date,
        expected_lines._items_landing_date,
        coalesce(expected_lines.items_count, 0) as items_count
    from expected_versions
    left join expected_lines using (order_id)
),

stored_lines as (
    select order_id, max(_landing_date) as _items_landing_date, count(*) as items_count
    from {{ ref('int_order_items') }}
    where true {{ scoped }}
    group by order_id
),

actual as (
    select order_id, _landing_date, _items_landing_date, items_count
    from {{ ref('int_orders') }}
    where true {{ scoped }}
)

select
    coalesce(expected.order_id, actual.order_id, stored_lines.order_id) as order_id,
    expected._landing_date as expected_landing_date, actual._landing_date,
    expected._items_landing_date as expected_items_landing_date, actual._items_landing_date,
    stored_lines._items_landing_date as stored_items_landing_date,
    expected.items_count as expected_items, actual.items_count, stored_lines.items_count as stored_items
from expected
full outer join actual using (order_id)
full outer join stored_lines on stored_lines.order_id = coalesce(expected.order_id, actual.order_id)
where expected.order_id is null
    or actual.order_id is null
    or actual._landing_date is distinct from expected._landing_date
    or actual._items_landing_date is distinct from expected._items_landing_date
    or actual.items_count <> expected.items_count
    or coalesce(stored_lines.items_count, 0) <> expected.items_count
    or stored_lines._items_landing_date is distinct from expected._items_landing_date
