-- The ingest's bookkeeping: for each delivered file of the run's days, the parsed and
-- rejected counts in landing.deliveries equal the rows stored for it. The
-- reconciliation mart counts landing rows from deliveries, so this ties it to the rows.

{% set sources = ['customers', 'products', 'orders', 'order_items', 'web_events', 'reviews', 'support_tickets'] %}
{% set window %}_landing_date between '{{ var("run_from") }}' and '{{ var("run_to") }}'{% endset %}

with stored as (
    {% for name in sources %}
        select '{{ name }}' as source, _file, count(*) as parsed from {{ source('landing', name) }}
        where {{ window }}
        group by _file
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

rejected as (
    select source, _file, count(*) as rejected from {{ source('landing', 'parse_rejects') }}
    where {{ window }}
    group by source, _file
),

deliveries as (
    select source, _file, rows_parsed, rows_rejected from {{ source('landing', 'deliveries') }}
    where {{ window }}
)

select
    coalesce(deliveries.source, stored.source, rejected.source) as source,
    coalesce(deliveries._file, stored._file, rejected._file) as _file,
    deliveries.rows_parsed, stored.parsed, deliveries.rows_rejected, rejected.rejected
from deliveries
full outer join stored on deliveries.source = stored.source and deliveries._file = stored._file
full outer join rejected
    on rejected.source = coalesce(deliveries.source, stored.source)
        and rejected._file = coalesce(deliveries._file, stored._file)
where deliveries._file is null
    or coalesce(stored.parsed, 0) <> deliveries.rows_parsed
    or coalesce(rejected.rejected, 0) <> deliveries.rows_rejected
