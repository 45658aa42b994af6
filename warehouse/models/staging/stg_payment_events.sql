-- Every payment lifecycle event; status is the event type's suffix.
select event_id, occurred_at, user_id, payment_id, order_id, amount_minor, currency, method,
    gateway, 'created' as status, failure_reason, refunded_minor
from {{ source('raw', 'payment_created') }}
union all
select event_id, occurred_at, user_id, payment_id, order_id, amount_minor, currency, method,
    gateway, 'processing' as status, failure_reason, refunded_minor
from {{ source('raw', 'payment_processing') }}
union all
select event_id, occurred_at, user_id, payment_id, order_id, amount_minor, currency, method,
    gateway, 'completed' as status, failure_reason, refunded_minor
from {{ source('raw', 'payment_completed') }}
union all
select event_id, occurred_at, user_id, payment_id, order_id, amount_minor, currency, method,
    gateway, 'failed' as status, failure_reason, refunded_minor
from {{ source('raw', 'payment_failed') }}
union all
select event_id, occurred_at, user_id, payment_id, order_id, amount_minor, currency, method,
    gateway, 'cancelled' as status, failure_reason, refunded_minor
from {{ source('raw', 'payment_cancelled') }}
union all
select event_id, occurred_at, user_id, payment_id, order_id, amount_minor, currency, method,
    gateway, 'refunded' as status, failure_reason, refunded_minor
from {{ source('raw', 'payment_refunded') }}
union all
select event_id, occurred_at, user_id, payment_id, order_id, amount_minor, currency, method,
    gateway, 'authorized' as status, failure_reason, refunded_minor
from {{ source('raw', 'payment_authorized') }}
union all
select event_id, occurred_at, user_id, payment_id, order_id, amount_minor, currency, method,
    gateway, 'captured' as status, failure_reason, refunded_minor
from {{ source('raw', 'payment_captured') }}
union all
select event_id, occurred_at, user_id, payment_id, order_id, amount_minor, currency, method,
    gateway, 'released' as status, failure_reason, refunded_minor
from {{ source('raw', 'payment_released') }}
union all
select event_id, occurred_at, user_id, payment_id, order_id, amount_minor, currency, method,
    gateway, 'dispute_opened' as status, failure_reason, refunded_minor
from {{ source('raw', 'payment_dispute_opened') }}
union all
select event_id, occurred_at, user_id, payment_id, order_id, amount_minor, currency, method,
    gateway, 'dispute_closed' as status, failure_reason, refunded_minor
from {{ source('raw', 'payment_dispute_closed') }}
