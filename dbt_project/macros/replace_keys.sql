{# Incremental strategy "replace_keys" for models keyed by an entity (an order):
   the model's incremental select returns the new state of every affected key, and
   a tombstone row (_cx_deleted = true) for an affected key that no longer has a
   row (its order was re-delivered away or became an orphan). Existing rows of all
   returned keys are deleted, then the live rows inserted, in one transaction.

   The select runs before the delete, so it may read {{ this }} (the old state) to
   find affected keys. The result equals a full rebuild for those keys, so re-runs
   and out-of-order backfills converge to the same table. #}
{% macro get_incremental_replace_keys_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- if not key or (key is sequence and key is not string) -%}
        {{ exceptions.raise_compiler_error("replace_keys needs one unique_key column") }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for column in arg_dict['dest_columns'] if column.name != '_cx_deleted' -%}
        {%- do columns.append(adapter.quote(column.name)) -%}
    {%- endfor -%}
    delete from {{ target }} where {{ key }} in (select {{ key }} from {{ temp }});
    insert into {{ target }} ({{ columns | join(', ') }})
    select {{ columns | join(', ') }} from {{ temp }} where not _cx_deleted
{% endmacro %}

{# Closes a replace_keys select: the live rows of `relation` plus a tombstone for
   each key of `affected` without a live row. On a full build, just the rows. #}
{% macro with_tombstones(relation, key, affected) -%}
    {{ return(adapter.dispatch('with_tombstones', 'cx')(relation, key, affected)) }}
{%- endmacro %}

{% macro duckdb__with_tombstones(relation, key, affected) -%}
    {% if is_incremental() %}
    select *, false as _cx_deleted from {{ relation }}
    union all by name
    select {{ affected }}.{{ key }}, true as _cx_deleted
    from {{ affected }} anti join {{ relation }} using ({{ key }})
    {% else %}
    select * from {{ relation }}
    {% endif %}
{% endmacro %}

{# A tombstone row has only the key: without `union all by name` the other columns must be listed. #}
{% macro default__with_tombstones(relation, key, affected) -%}
    {% if is_incremental() %}
    {{ exceptions.raise_compiler_error("with_tombstones: port the tombstone rows (DuckDB: union all by name) to " ~ target.type) }}
    {% else %}
    select * from {{ relation }}
    {% endif %}
{%- endmacro %}

{# Keys of a replace_keys model built from a validated table (rows flagged in
   _dq_reason) that turned valid since the last run (missing from the model) or
   orphan (flagged now). Keys whose rows left `validated` altogether were re-delivered
   in the run's days, which the model's window terms cover. Incremental runs only. #}
{% macro keys_turned_valid_or_orphan(valid, validated, key) -%}
    {{ return(adapter.dispatch('keys_turned_valid_or_orphan', 'cx')(valid, validated, key)) }}
{%- endmacro %}

{% macro duckdb__keys_turned_valid_or_orphan(valid, validated, key) -%}
    (select {{ key }} from {{ valid }} anti join {{ this }} using ({{ key }}))
    union
    (
        select {{ key }} from {{ this }}
        semi join (select {{ key }} from {{ validated }} where _dq_reason is not null) using ({{ key }})
    )
{% endmacro %}

{# Portable: in / not in instead of DuckDB's semi and anti joins (keys are never NULL). #}
{% macro default__keys_turned_valid_or_orphan(valid, validated, key) -%}
    (select {{ key }} from {{ valid }} where {{ key }} not in (select {{ key }} from {{ this }}))
    union
    (
        select {{ key }} from {{ this }}
        where {{ key }} in (select {{ key }} from {{ validated }} where _dq_reason is not null)
    )
{%- endmacro %}

{# A replace_keys model's keys touched by the run's days: delivered in them
   (`staged`, a staging model) or taken by this table from them (a re-delivery may
   have removed those rows). Incremental runs only. #}
{% macro keys_in_run_window(staged, key) -%}
    select {{ key }} from {{ staged }} where {{ in_run_window() }}
    union
    select {{ key }} from {{ this }} where {{ in_run_window() }}
{%- endmacro %}
