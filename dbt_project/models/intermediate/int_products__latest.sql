-- One row per catalog product: the latest valid version (upsert semantics);
-- conflicting versions of one timestamp and day are settled as in int_customers__latest.

with versions as (
    select * from {{ ref('stg_products') }}
    where _dq_reason is null
),

ranked as (
    select
        *,
        min(_landing_date) over (partition by product_id) as first_delivered_on,
        row_number() over (
            partition by product_id
            order by
                updated_at desc, _landing_date desc,
                {{ content_hash(version_columns('products')) }} desc, _file desc, _line desc
        ) as version_rank
    from versions
)

select * exclude (version_rank, _raw) from ranked
where version_rank = 1
