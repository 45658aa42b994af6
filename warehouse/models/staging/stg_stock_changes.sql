select event_id, occurred_at, item_id, old_stock, new_stock
from {{ source('raw', 'product_stock_changed') }}
