-- Daily sales per series ('total' and each product category): the forecaster's input.
-- Revenue and units are net of returns, so a day whose returns exceed its sales has
-- negative net values (normal in retail: a big credit note, a category with only
-- returns that day); units_sold and units_returned are the gross parts, both >= 0.
-- Days without any order line have no row.

with lines as (
    select
        order_date as ds,
        order_id,
        quantity,
        line_amount as amount,
        coalesce(category, 'uncategorised') as category
    from {{ ref('fct_sales_lines') }}
),

total as (
    select
        ds, 'total' as series, sum(amount) as revenue,
        count(distinct order_id) filter (where quantity > 0) as orders, sum(quantity) as units,
        coalesce(sum(quantity) filter (where quantity > 0), 0) as units_sold,
        coalesce(-sum(quantity) filter (where quantity < 0), 0) as units_returned
    from lines
    group by ds
),

by_category as (
    select
        ds, category as series, sum(amount) as revenue,
        count(distinct order_id) filter (where quantity > 0) as orders, sum(quantity) as units,
        coalesce(sum(quantity) filter (where quantity > 0), 0) as units_sold,
        coalesce(-sum(quantity) filter (where quantity < 0), 0) as units_returned
    from lines
    group by ds, category
),

final as (
    select * from total
    union all
    select * from by_category
)

select
    ds,
    series,
    round(revenue, 2)::double as revenue,
    orders,
    units::double as units,
    units_sold::double as units_sold,
    units_returned::double as units_returned
from final
