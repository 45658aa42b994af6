{{ config(**incremental_by_day('revenue_date')) }}
{%- set since = analytics_cutoff('revenue_date') %}
-- Revenue per UTC day and currency: orders placed that day, refunds by the day they happened,
-- lost disputes (chargebacks) by the day they were lost.
-- Incremental like the analytics marts: a run recomputes the days from the newest built day
-- minus var analytics_lookback_days (default 1) and leaves older days alone.
with orders as (
    select
        {{ utc_date('occurred_at') }} as revenue_date,
        currency,
        count(*) as orders,
        sum(total_minor) as gross_minor
    from {{ ref('stg_orders') }}
    where occurred_at >= {{ since }}
    group by 1, 2
),

refunds as (
    select
        {{ utc_date('refunded_at') }} as revenue_date,
        currency,
        sum(refunded_minor) as refunds_minor
    from {{ ref('fct_payments') }}
    where refunded and refunded_at >= {{ since }}
    group by 1, 2
),

chargebacks as (
    select
        {{ utc_date('charged_back_at') }} as revenue_date,
        currency,
        sum(charged_back_minor) as chargebacks_minor
    from {{ ref('fct_payments') }}
    where charged_back_at >= {{ since }}
    group by 1, 2
)

select
    revenue_date,
    currency,
    coalesce(o.orders, 0) as orders,
    coalesce(o.gross_minor, 0)::bigint as gross_minor,
    coalesce(r.refunds_minor, 0)::bigint as refunds_minor,
    coalesce(c.chargebacks_minor, 0)::bigint as chargebacks_minor,
    (coalesce(o.gross_minor, 0) - coalesce(r.refunds_minor, 0)
        - coalesce(c.chargebacks_minor, 0))::bigint as net_minor,
    case when o.orders > 0 then round(o.gross_minor / o.orders)::bigint end as aov_minor
from orders o
full outer join refunds r using (revenue_date, currency)
full outer join chargebacks c using (revenue_date, currency)
