-- One row per order: its latest delivered version (a later delivery updates the status).

with valid as (
    select * from {{ ref('int_orders__validated') }}
    where _dq_reason is null
),

ranked as (
    select
        *,
        row_number() over (
            partition by order_id
            order by _landing_date desc, _file desc, _line desc
        ) as version_rank
    from valid
)

select * exclude (version_rank) from ranked
where version_rank = 1
