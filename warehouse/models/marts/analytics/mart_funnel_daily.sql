{{ config(**incremental_by_day('event_date')) }}
{%- set since = analytics_cutoff('event_date') %}
-- Session funnel per UTC day (of the session start), traffic source and device. Steps are
-- strict: a session reaches a step only if it reached the previous one. "paid" = an order
-- placed in the session whose payment completed.
with sessions as (
    select
        session_id,
        min(occurred_at) as started_at,
        {{ arg_min('traffic_source', 'occurred_at') }} as traffic_source,
        {{ arg_min('device', 'occurred_at') }} as device
    from {{ ref('stg_sessions') }}
    where session_id is not null and occurred_at >= {{ since }}
    group by session_id
),

viewed as (
    select distinct session_id from {{ ref('stg_product_views') }}
    where occurred_at >= {{ since }}
),

carted as (
    select distinct session_id from {{ ref('stg_add_to_carts') }}
    where occurred_at >= {{ since }}
),

checked_out as (
    select distinct session_id from {{ ref('stg_checkouts') }}
    where occurred_at >= {{ since }}
),

paid as (
    select distinct o.session_id
    from {{ ref('stg_orders') }} o
    where o.occurred_at >= {{ since }} and o.order_id in (
        select order_id from {{ ref('stg_payment_events') }}
        where status = 'completed' and occurred_at >= {{ since }}
    )
),

steps as (
    select
        s.*,
        v.session_id is not null as s_view,
        s_view and c.session_id is not null as s_cart,
        s_cart and k.session_id is not null as s_checkout,
        s_checkout and p.session_id is not null as s_paid
    from sessions s
    left join viewed v using (session_id)
    left join carted c using (session_id)
    left join checked_out k using (session_id)
    left join paid p using (session_id)
),

counts as (
    select
        {{ utc_date('started_at') }} as event_date,
        traffic_source,
        device,
        count(*) as sessions,
        count(*) filter (where s_view) as product_view_sessions,
        count(*) filter (where s_cart) as add_to_cart_sessions,
        count(*) filter (where s_checkout) as checkout_sessions,
        count(*) filter (where s_paid) as paid_sessions
    from steps
    group by all
)

select
    *,
    product_view_sessions / sessions as view_rate,
    add_to_cart_sessions / nullif(product_view_sessions, 0) as cart_rate,
    checkout_sessions / nullif(add_to_cart_sessions, 0) as checkout_rate,
    paid_sessions / nullif(checkout_sessions, 0) as payment_rate,
    paid_sessions / sessions as conversion_rate,
    sessions - product_view_sessions as dropped_before_view,
    product_view_sessions - add_to_cart_sessions as dropped_before_cart,
    add_to_cart_sessions - checkout_sessions as dropped_before_checkout,
    checkout_sessions - paid_sessions as dropped_before_payment,
    now() as built_at
from counts
