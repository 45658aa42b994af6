-- Money captured per capturing event (automatic: payment.completed; manual: payment.captured).
select event_id, occurred_at, payment_id, order_id, gateway, currency,
    case when captured_minor > 0 then captured_minor else amount_minor end as captured_minor
from {{ source('raw', 'payment_completed') }}
union all
select event_id, occurred_at, payment_id, order_id, gateway, currency, captured_minor
from {{ source('raw', 'payment_captured') }}
