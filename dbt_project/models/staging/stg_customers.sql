with source as (
    {{ landing_rows('customers') }}
),

numbered as (
    {{ copy_numbered('source', [
        'customer_id', 'email', 'first_name', 'last_name', 'gender', 'birth_date', 'city', 'region',
        'country', 'signup_date', 'updated_at'
    ]) }}
),

genders as (
    select raw_value, value from {{ ref('enum_values') }}
    where domain = 'gender'
),

parsed as (
    select
        source.*,
        reference.clean_email(source.email) as email_clean,
        genders.value as gender_clean,
        reference.parse_date(source.birth_date) as birth_date_parsed,
        reference.parse_date(source.signup_date) as signup_date_parsed,
        reference.parse_ts(source.updated_at) as updated_at_parsed
    from numbered as source
    left join genders on reference.enum_key(source.gender) = genders.raw_value
),

-- Optional fields that fail their rule are nulled and named in _dq_repaired: a birth
-- date before 1900 or after the delivery, a sign-up outside the plausible range
-- (it becomes first_seen_at), an e-mail that is not one, structured text as a name.
checked_fields as (
    select
        *,
        nullif(trim(email), '') is not null and email_clean is null as email_invalid,
        nullif(trim(gender), '') is not null and gender_clean is null as gender_invalid,
        nullif(trim(birth_date), '') is not null
        and not coalesce({{ is_plausible('birth_date_parsed', "'1900-01-01'::date", '_landing_date') }}, false)
            as birth_date_invalid,
        nullif(trim(signup_date), '') is not null
        and not coalesce({{ is_plausible('signup_date_parsed') }}, false) as signup_date_invalid
    from parsed
),

typed as (
    select
        customer_id,
        email_clean as email,
        reference.clean_text(first_name) as first_name,
        reference.clean_text(last_name) as last_name,
        gender_clean as gender,
        case when not birth_date_invalid then birth_date_parsed end as birth_date,
        reference.clean_text(city) as city,
        reference.clean_text(region) as region,
        upper(reference.clean_text(country)) as country,
        case when not signup_date_invalid then signup_date_parsed end as signup_date,
        updated_at_parsed as updated_at,
        updated_at as updated_at_raw,
        {{ repaired_fields({
            'email': 'email_invalid',
            'first_name': 'reference.is_structured(first_name)',
            'last_name': 'reference.is_structured(last_name)',
            'gender': 'gender_invalid',
            'birth_date': 'birth_date_invalid',
            'city': 'reference.is_structured(city)',
            'region': 'reference.is_structured(region)',
            'country': 'reference.is_structured(country)',
            'signup_date': 'signup_date_invalid',
        }) }} as _dq_repaired,
        {{ delivery_columns() }}
    from checked_fields
),

checked as (
    select
        *,
        case
            when customer_id is null or updated_at_raw is null then 'missing_required_key'
            {{ timestamp_reasons('updated_at') }}
            when copy_number > 1 then 'duplicate_row'
        end as _dq_reason
    from typed
)

select * exclude (updated_at_raw, copy_number) {{ raw_if_quarantined() }} from checked
