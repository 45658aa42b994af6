-- The user x item interaction matrix: weighted counts of behaviour events and purchases.
-- Weights come from raw.event_weights (written from shopflow.events.INTERACTION_WEIGHTS);
-- a purchase is one order line. Anonymous events (no user_id) are left out.
with interactions as (
    select user_id, item_id, 'product_view' as event_type, occurred_at
    from {{ ref('stg_product_views') }}
    union all
    select user_id, item_id, 'rec_click', occurred_at from {{ ref('stg_rec_clicks') }}
    union all
    select user_id, item_id, 'wishlist_add', occurred_at from {{ ref('stg_wishlist_adds') }}
    union all
    select user_id, item_id, 'add_to_cart', occurred_at from {{ ref('stg_add_to_carts') }}
    union all
    select user_id, item_id, 'purchase', occurred_at from {{ ref('stg_order_lines') }}
)

select
    i.user_id,
    i.item_id,
    sum(coalesce(w.weight, 0)) as weight,
    count(*) filter (where i.event_type = 'product_view') as views,
    count(*) filter (where i.event_type = 'rec_click') as rec_clicks,
    count(*) filter (where i.event_type = 'wishlist_add') as wishlist_adds,
    count(*) filter (where i.event_type = 'add_to_cart') as add_to_carts,
    count(*) filter (where i.event_type = 'purchase') as purchases,
    min(i.occurred_at) as first_at,
    max(i.occurred_at) as last_at
from interactions i
left join {{ source('raw', 'event_weights') }} w using (event_type)
where i.user_id is not null
group by i.user_id, i.item_id
