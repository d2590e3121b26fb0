{# Parsing rules for messy landing values, installed as DuckDB macros in the
   `reference` schema at the start of every dbt invocation (on-run-start), so models
   stay readable: reference.parse_ts(x), reference.parse_number(x). #}
{% macro create_parsing_macros() -%}
    {{ return(adapter.dispatch('create_parsing_macros', 'cx')()) }}
{%- endmacro %}

{% macro duckdb__create_parsing_macros() %}
create schema if not exists reference;

-- Timestamps arrive as ISO 8601 (with offset, Z, a zone name, or naive = UTC),
-- 'YYYY-MM-DD', 'YYYY/MM/DD', numeric dates with '/', '.' or '-' in the order of
-- var date_order (DMY: 31/12/2024, 31.12.2024; MDY: 12/31/2024) with an optional
-- 'HH:MM[:SS]', or epoch seconds / milliseconds.
-- Result: a naive timestamp in UTC, NULL when nothing matches.
{%- set day_month = '%m/%d' if var('date_order') | upper == 'MDY' else '%d/%m' %}
create or replace macro reference.numeric_date_ts(x) as coalesce(
    try_strptime(x, '{{ day_month }}/%Y %H:%M:%S'),
    try_strptime(x, '{{ day_month }}/%Y %H:%M'),
    try_strptime(x, '{{ day_month }}/%Y'),
    try_strptime(x, '%Y/%m/%d %H:%M:%S'),
    try_strptime(x, '%Y/%m/%d %H:%M'),
    try_strptime(x, '%Y/%m/%d')
);
-- The usual shape, a naive 'YYYY-MM-DD HH:MM:SS', is read as a plain timestamp first:
-- the same value (naive = UTC), without the time zone machinery, twice as fast.
create or replace macro reference.parse_ts(x) as coalesce(
    case when x like '____-__-__ __:__:__' or x like '____-__-__T__:__:__' then try_cast(x as timestamp) end,
    timezone('UTC', try_cast(x as timestamptz)),
    reference.numeric_date_ts(regexp_replace(trim(x), '^(\d{1,2})[.\-](\d{1,2})[.\-](\d{4})', '\1/\2/\3')),
    case when regexp_full_match(x, '\d{9,10}') then timezone('UTC', to_timestamp(try_cast(x as bigint))) end,
    case when regexp_full_match(x, '\d{12,13}') then epoch_ms(try_cast(x as bigint)) end
);

create or replace macro reference.parse_date(x) as cast(reference.parse_ts(x) as date);

-- Numbers (rules in docs/parsing.md). Accepted: currency signs and ISO codes
-- ('€1.234,50', '$ 5.00', '1 000 EUR'), spaces and apostrophes as thousands
-- separators, '1,234.50' / '1.234,50' / '12,99' (with both marks the last one is the
-- decimal mark; a lone comma is decimal only before 1-2 final digits), accounting
-- negatives '(5.00)' = -5, and scientific notation '1.5e3' = 1500. Anything else
-- (hex '0x10', '1.5k', '5.00-', 'n/a', 'inf', misplaced separators) is NULL: the
-- staging model quarantines it as unparseable_number rather than guess. Values that
-- parse but are out of the double range come out as +-inf; the staging range checks
-- (value_out_of_range) catch them with the other oversized values.
-- Currency codes: any upper-case three letters, and the common codes in any case
-- ('12,99 eur'); other words ('1,5 Mio', '2 kg') are not dropped, so the value is rejected.
create or replace macro reference.number_text(x) as regexp_replace(
    regexp_replace(
        regexp_replace(trim(x), '^[A-Z]{3}\s*|\s*[A-Z]{3}$', ''),
        '(?i)^(eur|usd|gbp|chf|jpy|cny|sek|nok|dkk|pln|czk|huf|ron|bgn|aud|cad|nzd|inr|brl|mxn|zar|try|sgd|hkd)\s*|\s*(eur|usd|gbp|chf|jpy|cny|sek|nok|dkk|pln|czk|huf|ron|bgn|aud|cad|nzd|inr|brl|mxn|zar|try|sgd|hkd)$',
        ''),
    '[\p{Sc}\s\x{00A0}\x{202F}''\x{2019}]', '', 'g');
-- Accounting negative: '(5.00)' becomes '-5.00' ('(-5)' stays, and is rejected).
create or replace macro reference.signed_number_text(s) as
    case when regexp_full_match(s, '\([^()\-+]+\)') then '-' || substr(s, 2, length(s) - 2) else s end;
-- comma_decimal: the value comes from a file whose comma is the decimal mark (a
-- semicolon-delimited CSV, as European spreadsheets write them): a lone comma is then
-- decimal whatever follows it ('3,155' = 3.155) and a lone dot before three digits
-- groups thousands ('1.234' = 1234).
create or replace macro reference.decimal_mark(s, comma_decimal := false) as case
    when contains(s, '.') and contains(s, ',')
        then case when strpos(reverse(s), '.') < strpos(reverse(s), ',') then '.' else ',' end
    when contains(s, ',')
        then case when length(s) - length(replace(s, ',', '')) = 1
                   and (comma_decimal or regexp_matches(s, ',\d{1,2}$')) then ',' end
    when contains(s, '.')
        then case when length(s) - length(replace(s, '.', '')) = 1
                   and not (comma_decimal and regexp_matches(s, '^[+\-]?\d{1,3}\.\d{3}$')) then '.' end
end;
create or replace macro reference.grouped_number(s, comma_decimal := false) as try_cast(
    case
        when reference.decimal_mark(s, comma_decimal := comma_decimal) is null then regexp_replace(s, '[.,]', '', 'g')
        else replace(regexp_replace(replace(s, reference.decimal_mark(s, comma_decimal := comma_decimal), '#'),
                                    '[.,]', '', 'g'), '#', '.')
    end as double
);
create or replace macro reference.number_from_text(s, comma_decimal := false) as case
    -- plain digits, or one mark between digit runs, or thousands groups (1,234,567.5;
    -- 1,23,456.5; 1.234.567,5) with at most one decimal mark after them
    when regexp_full_match(s, '[+\-]?(\d+([.,]\d*)?|[.,]\d+|\d{1,3}((,\d{3})+|(,\d{2})+,\d{3})(\.\d*)?|\d{1,3}(\.\d{3})+(,\d*)?)')
        then reference.grouped_number(s, comma_decimal := comma_decimal)
    when regexp_full_match(s, '[+\-]?(\d+([.,]\d*)?|[.,]\d+)[eE][+\-]?\d{1,4}')
        then try_cast(replace(s, ',', '.') as double)
end;
-- The usual shape ('12.5', '-3') skips the rules.
create or replace macro reference.parse_number(x, comma_decimal := false) as case
    when regexp_full_match(x, '-?\d{1,15}(\.\d+)?') and not (comma_decimal and regexp_full_match(x, '-?\d{1,3}\.\d{3}'))
        then try_cast(x as double)
    else reference.number_from_text(reference.signed_number_text(reference.number_text(x)), comma_decimal := comma_decimal)
end;

-- Email: trimmed, lower-cased, NULL unless it looks like one: an unquoted local part
-- and a dotted host name (a JSON object or a struct's text holding an address is not one).
create or replace macro reference.clean_email(x) as
    case when regexp_full_match(lower(trim(x)), '[\p{L}\p{N}.!#$%&''*+/=?^_`~|-]+@[\p{L}\p{N}-]+(\.[\p{L}\p{N}-]+)*\.\p{L}{2,63}')
        then lower(trim(x)) end;

-- Free text that is a serialised object or list ('{"first": "Ann"}', "{'a': 1}",
-- '[1, 2]': a Parquet struct or list read as text), not a name or a label.
create or replace macro reference.is_structured(x) as regexp_full_match(trim(x), '\{.*\}|\[.*\]', 's');
-- A text field's value as delivered, NULL when it is structured.
create or replace macro reference.clean_text(x) as case when not reference.is_structured(x) then x end;

-- Phone: the digits only ('+49 (170) 123-4567' -> '491701234567'), NULL unless 6 to
-- 15 of them (E.164 numbers have at most 15): prefixes are kept as delivered, so
-- '0170...' and '+49 170...' stay different numbers (identity resolution compares them).
create or replace macro reference.clean_phone(x) as
    case when length(regexp_replace(x, '[^0-9]', '', 'g')) between 6 and 15
        and not reference.is_structured(x)
        then regexp_replace(x, '[^0-9]', '', 'g') end;

-- Enum values: trimmed, lower-cased, inner spaces and dashes as underscores.
create or replace macro reference.enum_key(x) as regexp_replace(lower(trim(x)), '[\s\-]+', '_', 'g');

-- Salted SHA-256 pseudonym for personal data.
create or replace macro reference.pseudonym(x, salt) as case when x is not null then sha256(salt || x) end;
{% endmacro %}

{# Another adapter needs its own functions of the same names and meaning: fail loudly until it has them. #}
{% macro default__create_parsing_macros() -%}
    {{ exceptions.raise_compiler_error(
        "The parsing functions (dbt_project/macros/parsing.sql) are DuckDB macros: port them to "
        ~ target.type ~ " as a duckdb__create_parsing_macros twin (docs/scaling.md, another adapter)") }}
{%- endmacro %}

{# `dbt run-operation install_parsing_macros`: the same macros without a build, for
   ad-hoc queries on a warehouse (run-operation does not run on-run-start hooks). #}
{% macro install_parsing_macros() %}
    {% do run_query(create_parsing_macros()) %}
{% endmacro %}

{# The files of a source whose comma is the decimal mark: semicolon-delimited text, as
   European spreadsheets export it (landing.deliveries records each file's delimiter). #}
{% macro comma_decimal_files(source_name) -%}
    select _landing_date, _file from {{ source('landing', 'deliveries') }}
    where source = '{{ source_name }}' and delimiter = ';'
{%- endmacro %}

{# A source's rows in the run window, with _comma_decimal telling parse_number how to
   read a lone comma (see reference.decimal_mark). #}
{% macro landing_rows_with_number_format(source_name) -%}
    select landing_rows.*, comma_files._file is not null as _comma_decimal
    from {{ source('landing', source_name) }} as landing_rows
    left join ({{ comma_decimal_files(source_name) }}) as comma_files
        on comma_files._landing_date = landing_rows._landing_date and comma_files._file = landing_rows._file
    where {{ in_run_window('landing_rows._landing_date') }}
{%- endmacro %}
