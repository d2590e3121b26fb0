-- Web events with the resolved customer: the logged-in customer, else the customer
-- the anonymous_id resolves to (int_identity_map). A view: resolution changes when a
-- visitor logs in later, so it is applied when read instead of rewriting history.

{{ config(materialized='view') }}

select
    events.*,
    coalesce(events.customer_id, identities.customer_id) as resolved_customer_id
from {{ ref('int_web_events__sessionised') }} as events
left join {{ ref('int_identity_map') }} as identities using (anonymous_id)
