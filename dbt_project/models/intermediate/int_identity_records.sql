-- The identity stage's input: one row per source record that carries an identifying
-- attribute, standardised the same way for every source. Restricted zone: it holds
-- personal data in clear and lives only in this (unpublished) schema.
--
-- A record is the current state of its key: a CRM customer's latest version, an
-- order's latest version, a review or ticket (latest delivery of its id), a web
-- device (anonymous_id) with the customer it logged in as. customer_id is the id the
-- record itself names (NULL for a guest order, a review or ticket known only by
-- e-mail, name or phone). A name delivered whole (reviewer_name, requester_name) is
-- split: 'Last, First' at the comma, else the last word is the last name.
-- A view: the identity stage reads it once per run, and it always matches its parts.

{{ config(materialized='view') }}

with customers as (
    select
        'customers' as source, customer_id as source_record_id, customer_id, email, phone,
        first_name, last_name, birth_date, postcode, city
    from {{ ref('int_customers__latest') }}
),

orders as (
    select
        'orders' as source, order_id as source_record_id, customer_id, email, null::varchar as phone,
        null::varchar as first_name, null::varchar as last_name, null::date as birth_date,
        null::varchar as postcode, null::varchar as city
    from {{ ref('int_orders') }}
),

reviews as (
    select
        'reviews' as source, review_id as source_record_id, customer_id, email, null::varchar as phone,
        reviewer_name as full_name
    from {{ ref('stg_reviews') }}
    where _dq_reason is null
    qualify row_number() over (partition by review_id order by _landing_date desc, _file desc, _line desc) = 1
),

tickets as (
    select
        'support_tickets' as source, ticket_id as source_record_id, customer_id, email, phone,
        requester_name as full_name
    from {{ ref('stg_support_tickets') }}
    where _dq_reason is null
    qualify row_number() over (partition by ticket_id order by _landing_date desc, _file desc, _line desc) = 1
),

texts as (
    select * from reviews
    union all by name
    select * from tickets
),

named as (
    select
        source, source_record_id, customer_id, email, phone,
        case
            when contains(full_name, ',') then split_part(full_name, ',', 2)
            when contains(trim(full_name), ' ') then regexp_extract(trim(full_name), '^(.*)\s+\S+$', 1)
            else full_name
        end as first_name,
        case
            when contains(full_name, ',') then split_part(full_name, ',', 1)
            when contains(trim(full_name), ' ') then regexp_extract(trim(full_name), '(\S+)$', 1)
        end as last_name,
        null::date as birth_date, null::varchar as postcode, null::varchar as city
    from texts
),

web_devices as (
    select
        'web_events' as source, anonymous_id as source_record_id, customer_id, null::varchar as email,
        null::varchar as phone, null::varchar as first_name, null::varchar as last_name,
        null::date as birth_date, null::varchar as postcode, null::varchar as city
    from {{ ref('int_identity_map') }}
),

records as (
    select * from customers
    union all by name
    select * from orders
    union all by name
    select * from named
    union all by name
    select * from web_devices
),

standardised as (
    select
        source,
        source_record_id::varchar as source_record_id,
        nullif(trim(customer_id), '') as customer_id,
        reference.clean_email(email) as email,
        nullif(regexp_replace(phone, '[^0-9]', '', 'g'), '') as phone,
        nullif(trim(regexp_replace(first_name, '\s+', ' ', 'g')), '') as first_name,
        nullif(trim(regexp_replace(last_name, '\s+', ' ', 'g')), '') as last_name,
        birth_date,
        nullif(trim(postcode), '') as postcode,
        nullif(trim(regexp_replace(city, '\s+', ' ', 'g')), '') as city
    from records
),

final as (
    select
        source, source_record_id, customer_id, email, phone, first_name, last_name, birth_date, postcode, city
    from standardised
    where coalesce(customer_id, email, phone, first_name, last_name, birth_date::varchar, postcode) is not null
)

select * from final
