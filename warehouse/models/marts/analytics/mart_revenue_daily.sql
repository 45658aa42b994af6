{{ config(**incremental_by_day('event_date')) }}
{%- set since = analytics_cutoff('event_date') %}
-- Revenue per UTC order day, item category, payment method and currency. Gross = value of the
-- order lines placed that day; refunds are the order's refunded amount spread over its lines
-- by value and dated by the order (so a day's net settles as refunds arrive, within the
-- incremental lookback); lost disputes (chargebacks) are spread and dated the same way, and
-- net = gross - refunds - chargebacks. payment_method is that of the order's latest payment
-- ('NONE' if unpaid).
with lines as (
    select
        l.order_id,
        l.occurred_at,
        l.currency,
        coalesce(i.category, 'unknown') as category,
        l.quantity * l.unit_price_minor as line_minor
    from {{ ref('stg_order_lines') }} l
    left join {{ ref('dim_items') }} i using (item_id)
    where l.occurred_at >= {{ since }}
),

order_totals as (
    select order_id, sum(line_minor) as order_minor from lines group by order_id
),

payments as (
    select
        order_id,
        {{ arg_max('method', 'updated_at') }} as payment_method,
        sum(refunded_minor) as refunded_minor,
        sum(charged_back_minor) as charged_back_minor
    from {{ ref('fct_payments') }}
    group by order_id
)

select
    {{ utc_date('l.occurred_at') }} as event_date,
    l.category,
    coalesce(p.payment_method, 'NONE') as payment_method,
    l.currency,
    count(distinct l.order_id) as orders,
    sum(l.line_minor)::bigint as gross_minor,
    coalesce(sum(round(
        least(p.refunded_minor, t.order_minor) * l.line_minor / nullif(t.order_minor, 0)
    )), 0)::bigint as refunds_minor,
    coalesce(sum(round(
        least(p.charged_back_minor, t.order_minor) * l.line_minor / nullif(t.order_minor, 0)
    )), 0)::bigint as chargebacks_minor,
    gross_minor - refunds_minor - chargebacks_minor as net_minor,
    round(gross_minor / count(distinct l.order_id))::bigint as aov_minor,
    now() as built_at
from lines l
join order_totals t using (order_id)
left join payments p using (order_id)
group by 1, 2, 3, 4
