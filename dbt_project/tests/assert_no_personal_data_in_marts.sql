-- Personal data never reaches the marts nor the published schemas in clear: no column
-- that holds e-mails, names, birth dates, phone numbers, addresses or postcodes (the
-- contract's identifying columns, cx.contract.IDENTIFYING_COLUMNS, plus full_name),
-- and no value in dim_customers that looks like an e-mail address (email_hash must be
-- the salted hash, not the address). They stay in staging and intermediate (the
-- restricted zone, where int_identity_records feeds identity resolution).

{% set identifying = [
    'email', 'phone', 'first_name', 'last_name', 'birth_date', 'address', 'postcode',
    'reviewer_name', 'requester_name', 'full_name'
] %}

select table_schema || '.' || table_name as table_name, column_name, 'personal data column' as problem
from information_schema.columns
where table_schema in ('{{ ref("dim_customers").schema }}', '{{ target.schema }}', 'published')
    and lower(column_name) in ({% for c in identifying %}'{{ c }}'{% if not loop.last %}, {% endif %}{% endfor %})
union all
select 'dim_customers', 'email_hash', 'clear e-mail address'
from {{ ref('dim_customers') }}
where email_hash like '%@%'
