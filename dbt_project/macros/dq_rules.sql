{# Row rules shared by the staging models (docs/parsing.md lists them). A required
   value that fails one quarantines the row with the reason; an optional one is
   nulled and named in the row's _dq_repaired (int_repaired_fields counts them). #}

{# The earliest instant a delivered timestamp may carry (var min_plausible_date):
   before it a date is a default or an epoch zero (0001-01-01, 1970-01-01), not data. #}
{% macro plausible_floor() -%}
    '{{ var("min_plausible_date") }}'::timestamp
{%- endmacro %}

{# The latest instant a row delivered on `day` may carry: its day plus the tolerance. #}
{% macro latest_allowed(day='_landing_date') -%}
    {{ return(adapter.dispatch('latest_allowed', 'cx')(day)) }}
{%- endmacro %}

{% macro duckdb__latest_allowed(day='_landing_date') -%}
    {{ day }} + to_days({{ var('future_tolerance_days') + 1 }})
{%- endmacro %}

{# Portable: dbt's own date arithmetic. #}
{% macro default__latest_allowed(day='_landing_date') -%}
    {{ dbt.dateadd('day', var('future_tolerance_days') + 1, day) }}
{%- endmacro %}

{# CASE branches for a required timestamp that was delivered (raw not null). #}
{% macro timestamp_reasons(column) -%}
    when {{ column }} is null then 'unparseable_timestamp'
    when {{ column }} < {{ plausible_floor() }} then 'implausible_timestamp'
    when {{ column }} > {{ latest_allowed() }} then 'future_timestamp'
{%- endmacro %}

{# Whether a parsed optional timestamp or date is within the plausible range. #}
{% macro is_plausible(column, floor=none, latest=none) -%}
    ({{ column }} between {{ floor or plausible_floor() }} and {{ latest or latest_allowed() }})
{%- endmacro %}

{# CASE branch for a number delivered but out of the range the warehouse holds exactly
   (DECIMAL(18,4) sums): +-inf from '1e400', or beyond `limit` in absolute value. #}
{% macro out_of_range_reason(columns_limits) -%}
    when {% for column, limit in columns_limits.items() %}{% if not loop.first %} or {% endif %}abs({{ column }}) > {{ limit }}{% endfor %}
        then 'value_out_of_range'
{%- endmacro %}

{# The names of the optional fields a row had nulled, comma-separated (NULL: none).
   `checks` maps a field name to the condition under which it was nulled. #}
{% macro repaired_fields(checks) -%}
    nullif(concat_ws(',', {% for name, condition in checks.items() %}case when {{ condition }} then '{{ name }}' end{% if not loop.last %}, {% endif %}{% endfor %}), '')
{%- endmacro %}

{# A version's content as a hash: the tie-break between versions of one key with the
   same timestamp from the same delivery day (conflicting duplicates), so the pick
   depends on what was delivered, never on file or line order. #}
{% macro content_hash(columns) -%}
    {{ return(adapter.dispatch('content_hash', 'cx')(columns)) }}
{%- endmacro %}

{% macro duckdb__content_hash(columns) -%}
    md5(cast(row({{ columns | join(', ') }}) as varchar))
{%- endmacro %}

{# Portable: the columns' text joined with a separator, NULL written as \N. #}
{% macro default__content_hash(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- if not loop.first %}{% do parts.append("'|'") %}{% endif -%}
        {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '\\N')") -%}
    {%- endfor -%}
    md5({{ dbt.concat(parts) }})
{%- endmacro %}

{# How far an order status is in the order's life: of two versions of an order from
   one day (no version timestamp), the further one wins. Closed states tie. #}
{% macro order_status_rank(column) -%}
    case {{ column }} when 'placed' then 1 when 'shipped' then 2 when 'delivered' then 3
        when 'cancelled' then 4 when 'returned' then 4 else 0 end
{%- endmacro %}

{# The columns that make a version's content, per versioned source (what content_hash
   compares): the latest models and int_repaired_fields use the same lists. #}
{% macro version_columns(source) -%}
    {{ return({
        'customers': ['email', 'phone', 'first_name', 'last_name', 'gender', 'birth_date', 'address', 'postcode',
                      'city', 'region', 'country', 'signup_date', 'marketing_consent', 'consent_date'],
        'products': ['name', 'category', 'brand', 'price', 'description'],
        'orders': ['customer_id', 'email', 'ordered_at', 'status', 'channel', 'currency'],
    }[source]) }}
{%- endmacro %}


{# The relation holding a source's rows that passed validation: orders and order
   items after the referential checks, the other sources as staged. #}
{% macro clean_rows_of(source) -%}
    {%- if source == 'orders' -%}{{ ref('int_orders__validated') }}
    {%- elif source == 'order_items' -%}{{ ref('int_order_items__validated') }}
    {%- else -%}{{ ref('stg_' ~ source) }}{%- endif -%}
{%- endmacro %}

{# A staged row's quarantine reason, in the one order every source follows: a required
   value missing, the row's timestamp, the source's own checks (the body of a `call`
   block: its `when ... then` branches), then a second copy of the same row. NULL: clean. #}
{% macro dq_reason(required, timestamp=none) -%}
    case
        when {% for column in required %}{% if not loop.first %} or {% endif %}{{ column }} is null{% endfor %}
            then 'missing_required_key'
        {% if timestamp %}{{ timestamp_reasons(timestamp) }}{% endif %}
        {% if caller is defined %}{{ caller() }}{% endif %}
        when copy_number > 1 then 'duplicate_row'
    end
{%- endmacro %}

{# Whether an optional field was delivered but its cleaning function rejects it (it is
   then nulled and named in _dq_repaired). #}
{% macro rejected(cleaner, column) -%}
    nullif(trim({{ column }}), '') is not null and reference.{{ cleaner }}({{ column }}) is null
{%- endmacro %}

{# The accepted spellings of one enum domain (seed enum_values: raw_value -> value), for a
   left join on reference.enum_key(<delivered value>) = raw_value. #}
{% macro enum_domain(domain, value_type=none) -%}
    select raw_value, value{% if value_type %}::{{ value_type }} as value{% endif %}
    from {{ ref('enum_values') }}
    where domain = '{{ domain }}'
{%- endmacro %}
