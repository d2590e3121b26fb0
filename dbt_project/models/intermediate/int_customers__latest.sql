-- One row per customer: the latest valid CRM version (upsert semantics).

with versions as (
    select * from {{ ref('stg_customers') }}
    where _dq_reason is null
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by updated_at desc, _landing_date desc, _file desc, _line desc
        ) as version_rank
    from versions
)

select * exclude (version_rank, _raw) from ranked
where version_rank = 1
