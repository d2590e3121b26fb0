{# Parsing rules for messy landing values, installed as DuckDB macros in the
   `reference` schema at the start of every dbt invocation (on-run-start), so models
   stay readable: reference.parse_ts(x), reference.parse_number(x). #}
{% macro create_parsing_macros() %}
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

-- Numbers with currency signs, spaces and thousands separators: '€1.234,50',
-- '$ 5.00', '1,234.50', '12,99', '1 000'. With both separators the last one is the
-- decimal mark; a lone comma is decimal only before 1-2 final digits.
create or replace macro reference.number_chars(x) as regexp_replace(x, '[^0-9,.\-]', '', 'g');
create or replace macro reference.decimal_mark(s) as case
    when contains(s, '.') and contains(s, ',')
        then case when strpos(reverse(s), '.') < strpos(reverse(s), ',') then '.' else ',' end
    when contains(s, ',')
        then case when length(s) - length(replace(s, ',', '')) = 1 and regexp_matches(s, ',\d{1,2}$') then ',' end
    when contains(s, '.')
        then case when length(s) - length(replace(s, '.', '')) = 1 then '.' end
end;
create or replace macro reference.parse_number(x) as try_cast(
    case
        when reference.decimal_mark(reference.number_chars(x)) is null
            then regexp_replace(reference.number_chars(x), '[.,]', '', 'g')
        else replace(
            regexp_replace(
                replace(reference.number_chars(x), reference.decimal_mark(reference.number_chars(x)), '#'),
                '[.,]', '', 'g'),
            '#', '.')
    end as double
);

-- Email: trimmed, lower-cased, NULL unless it looks like one.
create or replace macro reference.clean_email(x) as
    case when regexp_full_match(lower(trim(x)), '[^@\s]+@[^@\s]+\.[^@\s]+') then lower(trim(x)) end;

-- Enum values: trimmed, lower-cased, inner spaces and dashes as underscores.
create or replace macro reference.enum_key(x) as regexp_replace(lower(trim(x)), '[\s\-]+', '_', 'g');

-- Salted SHA-256 pseudonym for personal data.
create or replace macro reference.pseudonym(x, salt) as case when x is not null then sha256(salt || x) end;
{% endmacro %}

{# `dbt run-operation install_parsing_macros`: the same macros without a build, for
   ad-hoc queries on a warehouse (run-operation does not run on-run-start hooks). #}
{% macro install_parsing_macros() %}
    {% do run_query(create_parsing_macros()) %}
{% endmacro %}
