-- One row per payment; its status is that of its latest event (ties: later lifecycle stage).
with events as (
    select
        *,
        case status
            when 'created' then 1 when 'processing' then 2 when 'refunded' then 4 else 3
        end as stage
    from {{ ref('stg_payment_events') }}
),

-- at most one lost dispute per payment (a charged-back payment cannot be disputed again)
lost_disputes as (
    select payment_id, max(disputed_minor) as charged_back_minor, max(occurred_at) as lost_at
    from {{ ref('stg_payment_disputes') }}
    where lost
    group by payment_id
)

select
    payment_id,
    {{ arg_max('order_id', 'occurred_at') }} as order_id,
    {{ arg_max('user_id', 'occurred_at') }} as user_id,
    {{ arg_max('amount_minor', 'occurred_at') }} as amount_minor,
    {{ arg_max('currency', 'occurred_at') }} as currency,
    {{ arg_max('method', 'occurred_at') }} as method,
    {{ arg_max('gateway', 'occurred_at') }} as gateway,
    {{ arg_max('status', ['occurred_at', 'stage']) }} as status,
    {{ arg_max('failure_reason', 'occurred_at') }} filter (where failure_reason is not null)
        as failure_reason,
    coalesce(max(refunded_minor), 0) as refunded_minor,
    coalesce(max(refunded_minor), 0) > 0 as refunded,
    count(*) as event_count,
    min(occurred_at) as created_at,
    max(occurred_at) as updated_at,
    max(occurred_at) filter (where status = 'refunded') as refunded_at,
    coalesce(max(d.charged_back_minor), 0) as charged_back_minor,
    max(d.lost_at) as charged_back_at
from events
left join lost_disputes d using (payment_id)
group by payment_id
