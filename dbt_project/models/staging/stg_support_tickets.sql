with source as (
    {{ landing_rows('support_tickets') }}
),

numbered as (
    {{ copy_numbered('source', [
        'ticket_id', 'created_at', 'customer_id', 'email', 'phone', 'requester_name', 'channel', 'subject', 'body',
        'status'
    ]) }}
),

statuses as (
    {{ enum_domain('ticket_status') }}
),

typed as (
    select
        source.ticket_id,
        reference.parse_ts(source.created_at) as created_at,
        source.customer_id,
        -- A helpdesk usually knows these, not the CRM id (personal data: restricted zone).
        reference.clean_email(source.email) as email,
        reference.clean_phone(source.phone) as phone,
        reference.clean_text(source.requester_name) as requester_name,
        lower(source.channel) as channel,
        source.subject,
        source.body,
        statuses.value as status,
        source.created_at as created_at_raw,
        {{ repaired_fields({
            'email': rejected('clean_email', 'source.email'),
            'phone': rejected('clean_phone', 'source.phone'),
            'requester_name': 'reference.is_structured(source.requester_name)',
        }) }} as _dq_repaired,
        {{ delivery_columns('source') }}
    from numbered as source
    left join statuses on reference.enum_key(source.status) = statuses.raw_value
),

checked as (
    select
        *,
        {{ dq_reason(['ticket_id', 'created_at_raw'], 'created_at') }} as _dq_reason
    from typed
)

select * exclude (created_at_raw, copy_number) {{ raw_if_quarantined() }} from checked
