-- Input quality, not a pipeline fault: a source-day whose share of unrepairable rows
-- (quarantined for any reason but duplicate_row: a duplicate is collapsed, not lost)
-- exceeds var('quarantine_warn_share') warns; its bad rows are quarantined and the
-- build goes on. Look at the delivery. Days with few rows are skipped (noisy shares).

{{ config(severity='warn') }}

with bad as (
    select source, _landing_date as landing_date, count(*) as bad_rows
    from {{ ref('int_quarantine') }}
    where _landing_date between '{{ var("run_from") }}' and '{{ var("run_to") }}'
        and reason <> 'duplicate_row'
    group by all
)

select
    reconciliation.source, reconciliation.landing_date, reconciliation.landing_rows, bad.bad_rows,
    round(bad.bad_rows / reconciliation.landing_rows, 4) as bad_share
from {{ ref('reconciliation') }} as reconciliation
join bad using (source, landing_date)
where reconciliation.landing_rows >= {{ var('quarantine_warn_min_rows') }}
    and bad.bad_rows / reconciliation.landing_rows > {{ var('quarantine_warn_share') }}
