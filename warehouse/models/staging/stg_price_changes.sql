select event_id, occurred_at, item_id, old_price_minor, new_price_minor, currency
from {{ source('raw', 'product_price_changed') }}
