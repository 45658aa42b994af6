-- Catalog upserts: the full item state at occurred_at.
select
    event_id, occurred_at, item_id, title, description, category, category_path, brand,
    price_minor, currency, stock
from {{ source('raw', 'product_upserted') }}
