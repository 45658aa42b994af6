-- Behaviour: one row per wishlist_remove event (documented in marts/wishlists/wishlists.yml).
select event_id, occurred_at, user_id, session_id, item_id, wishlist_id
from {{ source('raw_wishlists', 'wishlist_remove') }}
