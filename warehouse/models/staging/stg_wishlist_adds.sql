-- Behaviour: one row per wishlist_add event.
select event_id, occurred_at, user_id, session_id, item_id, wishlist_id, price_minor, currency
from {{ source('raw', 'wishlist_add') }}
