-- The published quarantine: every landing row that could not be repaired.
-- as_of_date is the extraction day the row arrived with.
-- A view over int_quarantine.

{{ config(materialized='view') }}

select
    source,
    _file as file,
    _line as line,
    reason,
    raw,
    _landing_date as as_of_date
from {{ ref('int_quarantine') }}
