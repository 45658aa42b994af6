select event_id, occurred_at, user_id, order_id, total_minor, currency
from {{ source('raw', 'order_cancelled') }}
