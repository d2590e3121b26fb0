-- One row per product: the catalog's latest version, plus products only ever seen
-- in orders (a shop without a catalog feed), with review ratings. is_product: not a
-- non_product_codes seed entry nor named like a charge ('carriage' only as the
-- name's first word or 'next day carriage': a carriage clock is merchandise).

with catalog as (
    select * from {{ ref('int_products__latest') }}
),

sold as (
    select
        product_id,
        min(orders.ordered_at) as first_sold_at,
        max(orders.ordered_at) as last_sold_at,
        median(unit_price) as median_unit_price
    from {{ ref('int_order_items') }}
    join {{ ref('int_orders') }} as orders using (order_id)
    group by product_id
),

ratings as (
    select product_id, avg(rating) as avg_rating, count(rating) as ratings_count
    from {{ ref('stg_reviews') }}
    where _dq_reason is null and product_id is not null
    group by product_id
),

non_products as (
    select product_id, kind from {{ ref('non_product_codes') }}
),

products as (
    select
        coalesce(catalog.product_id, sold.product_id) as product_id,
        catalog.name,
        coalesce(catalog.category, 'uncategorised') as category,
        catalog.brand,
        coalesce(catalog.price, sold.median_unit_price) as price,
        catalog.description,
        least(catalog.first_delivered_on::timestamp, sold.first_sold_at) as first_seen_at,
        sold.last_sold_at,
        catalog._landing_date as catalog_delivered_on
    from catalog
    full outer join sold using (product_id)
)

select
    products.product_id,
    products.name,
    products.category,
    products.brand,
    products.price,
    products.description,
    ratings.avg_rating,
    coalesce(ratings.ratings_count, 0) as ratings_count,
    non_products.kind is null
    and not regexp_matches(
        lower(coalesce(products.name, '') || ' ' || products.category),
        -- noqa: disable=LT05
        '\b(postage|shipping|delivery charge|^carriage|next day carriage|fee|bank charges?|adjust(ment)?|discount|manual|sample)\b'
        -- noqa: enable=LT05
    ) as is_product,
    greatest(products.catalog_delivered_on::timestamp, products.last_sold_at)
    >= {{ as_of_date() }} - to_days({{ var('product_available_days') }}) as is_available,
    products.first_seen_at,
    products.last_sold_at,
    {{ as_of_date() }} as as_of_date
from products
left join ratings using (product_id)
left join non_products using (product_id)
