-- One row per web session: who, when, what happened (cart abandonment = a cart
-- without a purchase in the same session), summed from the session's per-day parts.
-- The customer: per part the logged-in customer, else (when some events were
-- anonymous) the customer its anonymous_id resolves to (int_identity_map); per
-- session the largest of those.
--
-- A table kept by session (strategy replace_keys), so int_customer_web_stats sums
-- resolved sessions instead of resolving every session of the history each day
-- (as a view: 5.4 of a 1M-customer day's 32 s). A run re-sums the sessions with parts
-- in its days, the sessions this table took from them (a re-delivery may have
-- removed their parts), and the sessions whose stored customer the identity map no
-- longer gives (a later login re-attributes earlier anonymous events).

{{ config(materialized='incremental', incremental_strategy='replace_keys', unique_key='session_key') }}

with

{% if is_incremental() %}
-- Sessions whose stored customer the identity map no longer gives.
reattributed as (
    select stored.session_key
    from {{ this }} as stored
    join (
        select parts.session_key, max(identities.customer_id) as anonymous_customer_id
        from {{ ref('int_web_session_parts') }} as parts
        left join {{ ref('int_identity_map') }} as identities using (anonymous_id)
        where parts.has_anonymous_events
        group by parts.session_key
    ) as resolved using (session_key)
    where stored.has_anonymous_events
      -- greatest() skips NULLs, like the max over the parts' customers below.
      and stored.customer_id is distinct from greatest(stored.logged_in_customer_id, resolved.anonymous_customer_id)
),

affected as (
    select session_key from {{ ref('int_web_session_parts') }} where {{ in_run_window() }}
    union
    select session_key from {{ this }}
    where first_landing_date <= {{ run_to() }} and last_landing_date >= {{ run_from() }}
    union
    select session_key from reattributed
),
{% endif %}

-- Each CTE reads int_web_session_parts once: DuckDB materialises a CTE read twice,
-- which here meant resolving every part of the history again.
parts as (
    select
        parts.*,
        case when parts.has_anonymous_events then identities.customer_id end as anonymous_customer_id
    from {{ ref('int_web_session_parts') }} as parts
    {% if is_incremental() %}semi join affected using (session_key){% endif %}
    left join {{ ref('int_identity_map') }} as identities using (anonymous_id)
),

sessions as (
    select
        session_key,
        greatest(max(logged_in_customer_id), max(anonymous_customer_id)) as customer_id,
        min(started_at) as started_at,
        max(ended_at) as ended_at,
        sum(events)::bigint as events,
        sum(product_views)::bigint as product_views,
        sum(cart_adds)::bigint as cart_adds,
        sum(purchases)::bigint as purchases,
        sum(cart_adds) > 0 and sum(purchases) = 0 as is_abandoned_cart,
        -- What the next runs need to find this session again.
        max(logged_in_customer_id) as logged_in_customer_id,
        bool_or(has_anonymous_events) as has_anonymous_events,
        min(_landing_date) as first_landing_date,
        max(_landing_date) as last_landing_date
    from parts
    group by session_key
)

{{ with_tombstones('sessions', 'session_key', 'affected') }}
