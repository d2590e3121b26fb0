with source as (
    {{ landing_rows('customers') }}
),

numbered as (
    {{ copy_numbered('source', [
        'customer_id', 'email', 'phone', 'first_name', 'last_name', 'gender', 'birth_date', 'address',
        'postcode', 'city', 'region', 'country', 'signup_date', 'marketing_consent', 'consent_date', 'updated_at'
    ]) }}
),

genders as (
    {{ enum_domain('gender') }}
),

consents as (
    {{ enum_domain('marketing_consent', 'boolean') }}
),

parsed as (
    select
        source.*,
        reference.clean_email(source.email) as email_clean,
        reference.clean_phone(source.phone) as phone_clean,
        genders.value as gender_clean,
        consents.value as consent_clean,
        reference.parse_date(source.birth_date) as birth_date_parsed,
        reference.parse_date(source.signup_date) as signup_date_parsed,
        reference.parse_date(source.consent_date) as consent_date_parsed,
        reference.parse_ts(source.updated_at) as updated_at_parsed
    from numbered as source
    left join genders on reference.enum_key(source.gender) = genders.raw_value
    left join consents on reference.enum_key(source.marketing_consent) = consents.raw_value
),

-- Optional fields that fail their rule are nulled and named in _dq_repaired: a birth
-- date before 1900 or after the delivery, a sign-up or consent date outside the
-- plausible range (a sign-up becomes first_seen_at), an e-mail that is not one, a
-- phone without 6 to 15 digits, a consent that is no yes or no, structured text as a
-- name or an address.
checked_fields as (
    select
        *,
        nullif(trim(email), '') is not null and email_clean is null as email_invalid,
        nullif(trim(phone), '') is not null and phone_clean is null as phone_invalid,
        nullif(trim(gender), '') is not null and gender_clean is null as gender_invalid,
        nullif(trim(marketing_consent), '') is not null and consent_clean is null as consent_invalid,
        nullif(trim(birth_date), '') is not null
        and not coalesce({{ is_plausible('birth_date_parsed', "'1900-01-01'::date", '_landing_date') }}, false)
            as birth_date_invalid,
        nullif(trim(signup_date), '') is not null
        and not coalesce({{ is_plausible('signup_date_parsed') }}, false) as signup_date_invalid,
        nullif(trim(consent_date), '') is not null
        and not coalesce({{ is_plausible('consent_date_parsed') }}, false) as consent_date_invalid
    from parsed
),

typed as (
    select
        customer_id,
        email_clean as email,
        phone_clean as phone,
        reference.clean_text(first_name) as first_name,
        reference.clean_text(last_name) as last_name,
        gender_clean as gender,
        case when not birth_date_invalid then birth_date_parsed end as birth_date,
        reference.clean_text(address) as address,
        -- Postcodes compare without case or inner spacing ('sw1a 1aa' = 'SW1A1AA').
        upper(regexp_replace(reference.clean_text(postcode), '\s+', '', 'g')) as postcode,
        reference.clean_text(city) as city,
        reference.clean_text(region) as region,
        upper(reference.clean_text(country)) as country,
        case when not signup_date_invalid then signup_date_parsed end as signup_date,
        consent_clean as marketing_consent,
        case when not consent_date_invalid then consent_date_parsed end as consent_date,
        updated_at_parsed as updated_at,
        updated_at as updated_at_raw,
        {{ repaired_fields({
            'email': 'email_invalid',
            'phone': 'phone_invalid',
            'first_name': 'reference.is_structured(first_name)',
            'last_name': 'reference.is_structured(last_name)',
            'gender': 'gender_invalid',
            'birth_date': 'birth_date_invalid',
            'address': 'reference.is_structured(address)',
            'postcode': 'reference.is_structured(postcode)',
            'city': 'reference.is_structured(city)',
            'region': 'reference.is_structured(region)',
            'country': 'reference.is_structured(country)',
            'signup_date': 'signup_date_invalid',
            'marketing_consent': 'consent_invalid',
            'consent_date': 'consent_date_invalid',
        }) }} as _dq_repaired,
        {{ delivery_columns() }}
    from checked_fields
),

checked as (
    select
        *,
        {{ dq_reason(['customer_id', 'updated_at_raw'], 'updated_at') }} as _dq_reason
    from typed
)

select * exclude (updated_at_raw, copy_number) {{ raw_if_quarantined() }} from checked
