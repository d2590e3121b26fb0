-- One row per valid order: its latest delivered version (a later delivery updates
-- the status; of two versions from one day the further status wins, then the
-- content's hash, never the line order) with its totals from int_order_items.
-- order_amount is the value of the sold lines, returned_amount the value of the
-- return lines (negative quantities), both >= 0. An order delivered without a status is 'returned' when it only holds
-- returns, else 'placed'.
--
-- Incremental by order (strategy replace_keys), like int_order_items: a run
-- recomputes the orders delivered or re-lined in the run's days, the orders this
-- table took from those days, and the orders whose validity flipped.

-- depends_on: {{ ref('stg_orders') }}, {{ ref('stg_order_items') }}
-- depends_on: {{ ref('int_order_items__validated') }}, {{ ref('int_products__latest') }}
{{ config(materialized='incremental', incremental_strategy='replace_keys', unique_key='order_id') }}

with valid as (
    select * exclude (_dq_reason)
    from {{ ref('int_orders__validated') }}
    where _dq_reason is null
),

{% if is_incremental() %}
affected as (
    {{ orders_delivered_in_run_window() }}
    union
    select order_id from {{ this }}
    where {{ in_run_window() }} or {{ in_run_window('_items_landing_date') }}
    union
    -- Orders that turned valid (their customer arrived) or orphan (it went away).
    {{ keys_turned_valid_or_orphan('valid', ref('int_orders__validated'), 'order_id') }}
    union
    -- Orders whose lines' product flag changed: their totals change with them.
    {{ orders_with_product_flag_changes() }}
),
{% endif %}

latest as (
    select *
    from valid
    {% if is_incremental() %}semi join affected using (order_id){% endif %}
    qualify row_number() over (
            partition by order_id
            order by
                _landing_date desc, {{ order_status_rank('status') }} desc,
                {{ content_hash(version_columns('orders')) }} desc, _file desc, _line desc
        ) = 1
),

totals as (
    select
        order_id,
        max(_landing_date) as _items_landing_date,
        count(*) as items_count,
        sum({{ exact('quantity') }}) filter (where quantity > 0) as units,
        sum({{ exact('quantity * unit_price') }}) filter (where quantity > 0) as sold_amount,
        -sum({{ exact('quantity * unit_price') }}) filter (where quantity < 0) as returned_amount
    from {{ ref('int_order_items') }}
    {% if is_incremental() %}semi join affected using (order_id){% endif %}
    group by order_id
),

orders as (
    select
        latest.order_id,
        latest.customer_id,
        -- Personal data (restricted zone): fct_orders attributes a guest order by it.
        latest.email,
        latest.ordered_at,
        cast(latest.ordered_at as date) as order_date,
        coalesce(
            latest.status,
            case when coalesce(totals.sold_amount, 0) = 0 and totals.returned_amount > 0 then 'returned' end,
            'placed'
        ) as status,
        latest.channel,
        latest.currency,
        coalesce(totals.items_count, 0) as items_count,
        coalesce(totals.units, 0)::double as units,
        round(coalesce(totals.sold_amount, 0), 2)::double as order_amount,
        round(coalesce(totals.returned_amount, 0), 2)::double as returned_amount,
        latest._landing_date,
        totals._items_landing_date
    from latest
    left join totals using (order_id)
)

{{ with_tombstones('orders', 'order_id', 'affected') }}
