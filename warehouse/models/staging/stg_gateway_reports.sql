-- What processors' verified webhooks reported (the gateway side of the reconciliation).
select event_id, occurred_at, payment_id, order_id, gateway, kind, amount_minor, currency,
    cumulative, gateway_event_id, gateway_event_type
from {{ source('raw', 'payment_gateway_reported') }}
