-- Behaviour: one row per product_view event.
select event_id, occurred_at, user_id, session_id, item_id
from {{ source('raw', 'product_view') }}
