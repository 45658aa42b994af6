-- One row per payment made with a processor that reports (Stripe, PayPal): what the ledger's
-- events say was captured, refunded and charged back, beside what the processor's verified
-- webhooks said. Portable SQL (no engine-specific functions beyond the utc_date macro).
with payments as (
    select
        payment_id,
        max(order_id) as order_id,
        max(gateway) as gateway,
        max(currency) as currency,
        min(occurred_at) as first_at,
        max(refunded_minor) as refunded_minor
    from {{ ref('stg_payment_events') }}
    group by payment_id
),

captured as (
    select payment_id, max(captured_minor) as captured_minor
    from {{ ref('stg_payment_captures') }}
    group by payment_id
),

charged_back as (
    select payment_id, max(disputed_minor) as charged_back_minor
    from {{ ref('stg_payment_disputes') }}
    where lost
    group by payment_id
),

-- a cumulative report states a running total (take the largest); the others each state
-- their own amount (add them up)
reported as (
    select
        payment_id,
        greatest(
            max(case when kind = 'captured' and cumulative then amount_minor else 0 end),
            sum(case when kind = 'captured' and not cumulative then amount_minor else 0 end)
        ) as captured_minor,
        greatest(
            max(case when kind = 'refunded' and cumulative then amount_minor else 0 end),
            sum(case when kind = 'refunded' and not cumulative then amount_minor else 0 end)
        ) as refunded_minor,
        max(case when kind = 'dispute_lost' then amount_minor else 0 end) as charged_back_minor
    from {{ ref('stg_gateway_reports') }}
    group by payment_id
)

select
    p.payment_id,
    p.order_id,
    p.gateway,
    p.currency,
    {{ utc_date('p.first_at') }} as payment_date,
    coalesce(c.captured_minor, 0) as ledger_captured_minor,
    coalesce(r.captured_minor, 0) as gateway_captured_minor,
    coalesce(p.refunded_minor, 0) as ledger_refunded_minor,
    coalesce(r.refunded_minor, 0) as gateway_refunded_minor,
    coalesce(b.charged_back_minor, 0) as ledger_charged_back_minor,
    coalesce(r.charged_back_minor, 0) as gateway_charged_back_minor
from payments p
left join captured c on c.payment_id = p.payment_id
left join charged_back b on b.payment_id = p.payment_id
left join reported r on r.payment_id = p.payment_id
where p.gateway in ('stripe', 'paypal')
