-- For every source and extraction day: landing rows = clean rows + quarantined rows.
-- Landing rows are the records of the files read (parsed + rejected). A file that
-- could not be read has no records to count: it is counted in files_unreadable (its
-- quarantine row, line 0, is not a record) with the rows it holds in rows_unread when
-- they are known (a Parquet footer); files_ignored counts the files not read.

{% set sources = ['customers', 'products', 'orders', 'order_items', 'web_events', 'reviews', 'support_tickets'] %}

with landed as (
    select
        source,
        _landing_date,
        sum(rows_parsed + rows_rejected) as landing_rows,
        count(*) filter (where status = 'unreadable') as files_unreadable,
        coalesce(sum(rows_unread) filter (where status = 'unreadable'), 0) as rows_unread,
        count(*) filter (where status = 'ignored') as files_ignored
    from {{ source('landing', 'deliveries') }}
    group by source, _landing_date
),

quarantined as (
    select source, _landing_date, count(*) as quarantined_rows
    from {{ ref('int_quarantine') }}
    where reason <> 'unreadable_file'
    group by source, _landing_date
),

clean as (
    {% for name in sources %}
        select '{{ name }}' as source, _landing_date, count(*) as clean_rows
        from {{ clean_rows_of(name) }}
        where _dq_reason is null
        group by _landing_date
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select
    landed.source,
    landed._landing_date as landing_date,
    landed.landing_rows,
    coalesce(clean.clean_rows, 0) as clean_rows,
    coalesce(quarantined.quarantined_rows, 0) as quarantined_rows,
    landed.landing_rows = coalesce(clean.clean_rows, 0) + coalesce(quarantined.quarantined_rows, 0) as is_balanced,
    landed.files_unreadable,
    landed.rows_unread,
    landed.files_ignored
from landed
left join clean using (source, _landing_date)
left join quarantined using (source, _landing_date)
