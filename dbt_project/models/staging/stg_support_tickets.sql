with source as (
    {{ landing_rows('support_tickets') }}
),

numbered as (
    {{ copy_numbered('source', ['ticket_id', 'created_at', 'customer_id', 'channel', 'subject', 'body', 'status']) }}
),

statuses as (
    select raw_value, value from {{ ref('enum_values') }}
    where domain = 'ticket_status'
),

typed as (
    select
        source.ticket_id,
        reference.parse_ts(source.created_at) as created_at,
        source.customer_id,
        lower(source.channel) as channel,
        source.subject,
        source.body,
        statuses.value as status,
        source.created_at as created_at_raw,
        {{ delivery_columns('source') }}
    from numbered as source
    left join statuses on reference.enum_key(source.status) = statuses.raw_value
),

checked as (
    select
        *,
        case
            when ticket_id is null or created_at_raw is null then 'missing_required_key'
            {{ timestamp_reasons('created_at') }}
            when copy_number > 1 then 'duplicate_row'
        end as _dq_reason
    from typed
)

select * exclude (created_at_raw, copy_number) {{ raw_if_quarantined() }} from checked
