-- One row per customer: CRM attributes (personal data pseudonymised or dropped),
-- RFM and customer-360 measures as of the latest extraction day.
-- Without a CRM feed, the customers are the ones seen in orders.

with crm as (
    select * from {{ ref('int_customers__latest') }}
),

orders as (
    select * from {{ ref('fct_orders') }}
),

order_stats as (
    select
        customer_id,
        min(ordered_at) as first_order_at,
        -- Recency and frequency count purchases (fct_orders.is_purchase).
        max(ordered_at) filter (where is_purchase) as last_order_at,
        count(*) as orders_count,
        count(*) filter (where is_purchase) as frequency,
        sum({{ exact('order_amount') }}) filter (where status <> 'cancelled') as revenue_total,
        sum({{ exact('order_amount') }} - {{ exact('returned_amount') }}) filter (
            where status <> 'cancelled'
        ) as monetary
    from orders
    -- A guest order no one could be attributed to counts in sales, not for a customer.
    where customer_id is not null
    group by customer_id
),

web as (
    select customer_id, first_visit_at, web_sessions from {{ ref('int_customer_web_stats') }}
),

customers as (
    select customer_id from crm
    union
    select customer_id from order_stats
),

as_of as (
    select {{ as_of_date() }} as as_of_date
)

select
    customers.customer_id,
    reference.pseudonym(crm.email, '{{ var("pii_salt") }}') as email_hash,
    crm.gender,
    case
        when crm.birth_date is null then null
        when date_diff('year', crm.birth_date, as_of.as_of_date) < 25 then '<25'
        when date_diff('year', crm.birth_date, as_of.as_of_date) < 35 then '25-34'
        when date_diff('year', crm.birth_date, as_of.as_of_date) < 45 then '35-44'
        when date_diff('year', crm.birth_date, as_of.as_of_date) < 55 then '45-54'
        when date_diff('year', crm.birth_date, as_of.as_of_date) < 65 then '55-64'
        else '65+'
    end as age_band,
    crm.city,
    crm.region,
    crm.country,
    crm.signup_date,
    -- Consent is a permission, not an identifier: NULL when the CRM does not say.
    crm.marketing_consent,
    least(crm.signup_date::timestamp, order_stats.first_order_at, web.first_visit_at) as first_seen_at,
    order_stats.last_order_at,
    coalesce(order_stats.orders_count, 0) as orders_count,
    round(coalesce(order_stats.revenue_total, 0), 2)::double as revenue_total,
    date_diff('day', order_stats.last_order_at::date, as_of.as_of_date) as recency_days,
    coalesce(order_stats.frequency, 0) as frequency,
    round(coalesce(order_stats.monetary, 0), 2)::double as monetary,
    greatest(
        date_diff(
            'day', least(crm.signup_date::timestamp, order_stats.first_order_at, web.first_visit_at)::date,
            as_of.as_of_date
        ),
        0
    ) as tenure_days,
    coalesce(web.web_sessions, 0) as web_sessions,
    as_of.as_of_date
from customers
cross join as_of
left join crm using (customer_id)
left join order_stats using (customer_id)
left join web using (customer_id)
