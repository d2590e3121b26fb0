-- Personal data never reaches the marts in clear: no column that holds e-mails,
-- names, birth dates or phone numbers, and no value in dim_customers that looks like
-- an e-mail address (email_hash must be the salted hash, not the address).

select table_name, column_name, 'personal data column' as problem
from information_schema.columns
where table_schema = '{{ ref("dim_customers").schema }}'
    and lower(column_name) in ('email', 'first_name', 'last_name', 'full_name', 'birth_date', 'phone', 'address')
union all
select 'dim_customers', 'email_hash', 'clear e-mail address'
from {{ ref('dim_customers') }}
where email_hash like '%@%'
