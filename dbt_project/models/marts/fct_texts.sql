-- Review and support-ticket text for the sentiment model, latest version per id.
-- A view: read once per run by the sentiment stage, never rewritten.

{{ config(materialized='view') }}

with reviews as (
    select
        review_id as text_id, 'review' as source, customer_id, product_id, rating,
        title, body, language, created_at,
        row_number() over (partition by review_id order by _landing_date desc, _file desc, _line desc) as version_rank
    from {{ ref('stg_reviews') }}
    where _dq_reason is null
),

tickets as (
    select
        ticket_id as text_id, 'ticket' as source, customer_id, null::varchar as product_id,
        null::integer as rating, subject as title, body, null::varchar as language, created_at,
        row_number() over (partition by ticket_id order by _landing_date desc, _file desc, _line desc) as version_rank
    from {{ ref('stg_support_tickets') }}
    where _dq_reason is null
)

select * exclude (version_rank) from reviews
where version_rank = 1
union all
select * exclude (version_rank) from tickets
where version_rank = 1
