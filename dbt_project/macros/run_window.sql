{# The extraction days this run (re)builds; see vars run_from / run_to. #}
{% macro run_from() %}'{{ var("run_from") }}'::date{% endmacro %}
{% macro run_to() %}'{{ var("run_to") }}'::date{% endmacro %}

{% macro in_run_window(column='_landing_date') -%}
    {% if is_incremental() %}{{ column }} between {{ run_from() }} and {{ run_to() }}{% else %}{{ column }} <= {{ run_to() }}{% endif %}
{%- endmacro %}

{# The rows of landing table `source_name` a staging model reads this run. #}
{% macro landing_rows(source_name) -%}
    select * from {{ source('landing', source_name) }}
    where {{ in_run_window() }}
{%- endmacro %}

{# Incremental staging models replace their partitions of the run window:
   delete them here, the model's select inserts them again. Idempotent, and a
   re-delivered day that now holds fewer rows leaves no stale rows behind. #}
{% macro delete_run_window(column='_landing_date') -%}
    {% if is_incremental() %}
        delete from {{ this }} where {{ column }} between {{ run_from() }} and {{ run_to() }}
    {% endif %}
{%- endmacro %}

{# The day the marts describe (their as_of_date): the newest extraction day the
   pipeline has processed, whether anything arrived that day or not (the ingest step
   records every day of its window in landing.processed_days). Derived from the
   warehouse, not the run, so days re-run out of order leave the same state; a
   warehouse ingested before processed days were recorded falls back to its newest
   delivery. cx.run_days.warehouse_as_of is the same rule in Python (the checks). #}
{% macro as_of_date() -%}
    (select coalesce(greatest(
        (select max(_landing_date) from {{ source('landing', 'processed_days') }}),
        (select max(_landing_date) from {{ source('landing', 'deliveries') }})
    ), {{ run_to() }}))
{%- endmacro %}

{# Money and quantities are summed as DECIMAL: exact, so a sum does not depend on
   the order rows are read in (parallel scans, or a table built by out-of-order
   backfills), and re-runs stay byte-for-byte equal. #}
{% macro exact(expression) -%}
    cast({{ expression }} as decimal(18, 4))
{%- endmacro %}

{# Whether the order checks look at the run's orders only: on single-day runs other
   than the weekly full-check day (var full_checks_isoweekday); multi-day windows
   (initial loads, catch-up) check the whole history. #}
{% macro order_checks_window_only() -%}
    {{ return(var('run_from') == var('run_to')
              and modules.datetime.date.fromisoformat(var('run_to')).isoweekday() != var('full_checks_isoweekday')) }}
{%- endmacro %}

{# The orders delivered (as versions or lines) in the run's days. #}
{% macro orders_delivered_in_run_window() -%}
    select order_id from {{ ref('stg_orders') }} where _landing_date between {{ run_from() }} and {{ run_to() }}
    union
    select order_id from {{ ref('stg_order_items') }} where _landing_date between {{ run_from() }} and {{ run_to() }}
{%- endmacro %}
