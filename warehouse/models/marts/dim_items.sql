-- The current catalog: the latest upsert per item with later price and stock changes applied.
with latest_upsert as (
    select *
    from {{ ref('stg_products') }}
    qualify row_number() over (partition by item_id order by occurred_at desc, event_id desc) = 1
),

prices as (
    select item_id, occurred_at, price_minor, currency from {{ ref('stg_products') }}
    union all
    select item_id, occurred_at, new_price_minor, currency from {{ ref('stg_price_changes') }}
),

stocks as (
    select item_id, occurred_at, stock from {{ ref('stg_products') }}
    union all
    select item_id, occurred_at, new_stock from {{ ref('stg_stock_changes') }}
),

current_price as (
    select
        item_id,
        {{ arg_max('price_minor', 'occurred_at') }} as price_minor,
        {{ arg_max('currency', 'occurred_at') }} as currency,
        max(occurred_at) as price_at
    from prices
    group by item_id
),

current_stock as (
    select item_id, {{ arg_max('stock', 'occurred_at') }} as stock, max(occurred_at) as stock_at
    from stocks
    group by item_id
),

first_seen as (
    select item_id, min(occurred_at) as first_seen_at from {{ ref('stg_products') }} group by 1
)

select
    u.item_id,
    u.title,
    u.description,
    u.category,
    u.category_path,
    u.brand,
    p.price_minor,
    p.currency,
    s.stock,
    s.stock > 0 as in_stock,
    f.first_seen_at,
    greatest(u.occurred_at, p.price_at, s.stock_at) as updated_at
from latest_upsert u
join current_price p using (item_id)
join current_stock s using (item_id)
join first_seen f using (item_id)
