-- Behaviour: one row per checkout_started event.
select event_id, occurred_at, user_id, session_id, cart_value_minor, currency, item_count
from {{ source('raw', 'checkout_started') }}
