-- One row per payment; its status is that of its latest event (ties: later lifecycle stage).
with events as (
    select
        *,
        case status
            when 'created' then 1 when 'processing' then 2 when 'refunded' then 4 else 3
        end as stage
    from {{ ref('stg_payment_events') }}
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
    max(occurred_at) filter (where status = 'refunded') as refunded_at
from events
group by payment_id
