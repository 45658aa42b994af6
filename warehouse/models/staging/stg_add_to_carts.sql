-- Behaviour: one row per add_to_cart event.
select event_id, occurred_at, user_id, session_id, item_id, quantity, unit_price_minor, currency
from {{ source('raw', 'add_to_cart') }}
