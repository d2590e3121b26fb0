-- Row-level reconciliation for the run's days: every landing row (every row of the
-- landing tables, every parse reject, every unreadable file) is either clean
-- downstream or quarantined, exactly once; and nothing is clean or quarantined that did not land. Returns the
-- offending rows (source, file, line) with how often each side holds them.

{% set sources = ['customers', 'products', 'orders', 'order_items', 'web_events', 'reviews', 'support_tickets'] %}
{% set window %}_landing_date between '{{ var("run_from") }}' and '{{ var("run_to") }}'{% endset %}

with landed as (
    {% for name in sources %}
        select '{{ name }}' as source, _file, _line from {{ source('landing', name) }}
        where {{ window }}
        union all
    {% endfor %}
    select source, _file, _line from {{ source('landing', 'parse_rejects') }}
    where {{ window }}
    union all
    -- a file that could not be read is accounted for by one quarantine row (line 0)
    select source, _file, 0 from {{ source('landing', 'deliveries') }}
    where status = 'unreadable' and {{ window }}
),

accounted as (
    {% for name in sources %}
        select '{{ name }}' as source, _file, _line
        from {{ clean_rows_of(name) }}
        where _dq_reason is null and {{ window }}
        union all
    {% endfor %}
    select source, _file, _line from {{ ref('int_quarantine') }}
    where {{ window }}
),

landed_counts as (
    select source, _file, _line, count(*) as landed from landed
    group by all
),

accounted_counts as (
    select source, _file, _line, count(*) as accounted from accounted
    group by all
)

select source, _file, _line, coalesce(landed, 0) as landed, coalesce(accounted, 0) as accounted
from landed_counts
full outer join accounted_counts using (source, _file, _line)
where coalesce(landed, 0) <> 1 or coalesce(accounted, 0) <> 1
