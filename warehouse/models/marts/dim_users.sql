-- One row per user seen in any event: activity span, country, sessions, orders and revenue.
-- Revenue counts placed orders that were not cancelled, in the user's main order currency.
with activity as (
    select
        user_id,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at,
        count(distinct session_id) as sessions
    from {{ ref('int_user_activity') }}
    group by user_id
),

registrations as (
    select user_id, {{ arg_max('country', 'occurred_at') }} as country, min(occurred_at) as registered_at
    from {{ ref('stg_users_registered') }}
    where user_id is not null
    group by user_id
),

orders as (
    select o.*, c.order_id is not null as cancelled
    from {{ ref('stg_orders') }} o
    left join (select distinct order_id from {{ ref('stg_order_cancellations') }}) c
        using (order_id)
    where o.user_id is not null
),

main_currency as (
    {{ most_frequent('orders', 'user_id', 'currency') }}
),

order_totals as (
    select
        o.user_id,
        count(*) as orders,
        count(*) filter (where o.cancelled) as cancelled_orders,
        coalesce(sum(o.total_minor) filter (
            where not o.cancelled and o.currency = m.currency
        ), 0) as revenue_minor,
        max(m.currency) as currency
    from orders o
    join main_currency m using (user_id)
    group by o.user_id
)

select
    a.user_id,
    a.first_seen_at,
    a.last_seen_at,
    r.registered_at,
    r.country,
    a.sessions,
    coalesce(t.orders, 0) as orders,
    coalesce(t.cancelled_orders, 0) as cancelled_orders,
    coalesce(t.revenue_minor, 0)::bigint as revenue_minor,
    t.currency
from activity a
left join registrations r using (user_id)
left join order_totals t using (user_id)
