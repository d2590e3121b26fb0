{{ config(pre_hook="{{ delete_run_window() }}") }}

with source as (
    select * from {{ source('landing', 'customers') }}
    where {{ in_run_window() }}
),

numbered as (
    {{ copy_numbered('source', ['customer_id', 'email', 'first_name', 'last_name', 'gender', 'birth_date', 'city', 'region', 'country', 'signup_date', 'updated_at']) }}
),

genders as (
    select raw_value, value from {{ ref('enum_values') }} where domain = 'gender'
),

typed as (
    select
        source.customer_id,
        reference.clean_email(source.email) as email,
        source.first_name,
        source.last_name,
        genders.value as gender,
        reference.parse_date(source.birth_date) as birth_date,
        source.city,
        source.region,
        upper(source.country) as country,
        reference.parse_date(source.signup_date) as signup_date,
        reference.parse_ts(source.updated_at) as updated_at,
        source.updated_at as updated_at_raw,
        source._landing_date,
        source._file,
        source._line,
        source._raw,
        source.copy_number
    from numbered as source
    left join genders on reference.enum_key(source.gender) = genders.raw_value
),

checked as (
    select
        *,
        case
            when customer_id is null or updated_at_raw is null then 'missing_required_key'
            when updated_at is null then 'unparseable_timestamp'
            when updated_at > _landing_date + to_days({{ var('future_tolerance_days') + 1 }}) then 'future_timestamp'
            when copy_number > 1 then 'duplicate_row'
        end as _dq_reason
    from typed
)

select * exclude (updated_at_raw, copy_number) {{ raw_if_quarantined() }} from checked
