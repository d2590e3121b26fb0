{# Staging keeps a row's delivered form (_raw) only when it quarantines the row: a
   clean row's is in its landing table, and carrying it for every row doubled the
   largest staging tables (web events at 1M customers). For the final select of a
   staging model whose rows nothing downstream can quarantine later; orders and order
   lines keep theirs, because the orphan checks quarantine rows that are clean here. #}
{% macro raw_if_quarantined() -%}
    {{ return(adapter.dispatch('raw_if_quarantined', 'cx')()) }}
{%- endmacro %}

{% macro duckdb__raw_if_quarantined() -%}
    replace (case when _dq_reason is not null then _raw end as _raw)
{% endmacro %}

{# Portable: no star modifier, so every row keeps its _raw (correct, only larger). #}
{% macro default__raw_if_quarantined() -%}

{%- endmacro %}
