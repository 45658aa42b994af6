-- Every closed dispute; a lost one charged the disputed amount back.
select event_id, occurred_at, payment_id, order_id, gateway, currency, disputed_minor,
    status = 'CHARGED_BACK' as lost
from {{ source('raw', 'payment_dispute_closed') }}
