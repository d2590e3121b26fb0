-- Personal data never reaches the marts nor the published schemas in clear: no column
-- that holds e-mails, names, birth dates, phone numbers, addresses or postcodes (the
-- contract's identifying columns, cx.contract.IDENTIFYING_COLUMNS, plus full_name),
-- and no value in dim_customers that looks like an e-mail address (email_hash must be
-- the salted hash, not the address). They stay in staging and intermediate (the
-- restricted zone, where int_identity_records feeds identity resolution).

with identifying as (
    select
        unnest([
            'email', 'phone', 'first_name', 'last_name', 'birth_date', 'address', 'postcode',
            'reviewer_name', 'requester_name', 'full_name'
        ]) as column_name
)

select
    columns.table_schema || '.' || columns.table_name as table_name,
    columns.column_name,
    'personal data column' as problem
from information_schema.columns as columns
where
    columns.table_schema in ('{{ ref("dim_customers").schema }}', '{{ target.schema }}', 'published')
    and lower(columns.column_name) in (select identifying.column_name from identifying)
union all
select 'dim_customers', 'email_hash', 'clear e-mail address'
from {{ ref('dim_customers') }}
where email_hash like '%@%'
