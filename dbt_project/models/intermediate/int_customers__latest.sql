-- One row per customer: the latest valid CRM version (upsert semantics). Versions
-- with the same updated_at from the same day that differ (conflicting duplicates)
-- are settled by their content's hash, not by line order, and counted in
-- int_repaired_fields.
--
-- Incremental by customer (strategy replace_keys): a run re-ranks all versions of
-- the customers delivered in the run's days and of those whose current version came
-- from those days (a re-delivery may have removed it), so the daily cost follows the
-- day's deliveries, not the size of the CRM.

{{ config(materialized='incremental', incremental_strategy='replace_keys', unique_key='customer_id') }}

with versions as (
    select * exclude (_raw) from {{ ref('stg_customers') }}
    where _dq_reason is null
),

{% if is_incremental() %}
affected as (
    {{ keys_in_run_window(ref('stg_customers'), 'customer_id') }}
),
{% endif %}

latest as (
    select *
    from versions
    {% if is_incremental() %}semi join affected using (customer_id){% endif %}
    qualify row_number() over (
            partition by customer_id
            order by
                updated_at desc, _landing_date desc,
                {{ content_hash(version_columns('customers')) }} desc, _file desc, _line desc
        ) = 1
)

{{ with_tombstones('latest', 'customer_id', 'affected') }}
