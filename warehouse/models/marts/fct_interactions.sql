{{ config(**incremental_by_pair(['user_id', 'item_id'])) }}
-- depends_on: {{ ref('stg_order_lines') }}
{%- set since = interactions_cutoff() %}
-- The user x item interaction matrix: per pair, the sum of the weights of its implicit events
-- plus its explicit feedback. Which event types count and how much comes from
-- raw.event_weights (shopflow.events.INTERACTION_WEIGHTS) through the interaction_events()
-- macro; a purchase is one order line. Ratings: the pair's latest rating (ties: the later
-- load) is `rating`; it adds its value to weight when positive and nothing when `disliked`
-- (below the positive threshold its event carries). Anonymous events (no user_id) are left
-- out. Incremental: a run recomputes only the pairs with newly loaded events or ratings
-- (macro interactions_cutoff), equal to a full build.
with events as (
    {{ interaction_events() }}
),

ratings as (
    select user_id, item_id, occurred_at, loaded_at, event_id, rating, disliked
    from {{ ref('stg_ratings') }}
    where user_id is not null
),

{% if is_incremental() %}
changed as (
    select user_id, item_id from events where loaded_at >= {{ since }}
    union
    select user_id, item_id from ratings where loaded_at >= {{ since }}
),

scoped as (
    select e.* from events e
    where exists (
        select 1 from changed c where c.user_id = e.user_id and c.item_id = e.item_id)
),

scoped_ratings as (
    select r.* from ratings r
    where exists (
        select 1 from changed c where c.user_id = r.user_id and c.item_id = r.item_id)
),
{% else %}
scoped as (
    select * from events
),

scoped_ratings as (
    select * from ratings
),
{% endif %}

weighted as (
    select s.*, w.weight
    from scoped s
    join {{ source('raw', 'event_weights') }} w using (event_type)
    where s.user_id is not null
),

implicit as (
    select
        user_id,
        item_id,
        sum(weight) as weight,
        count(*) filter (where event_type = 'product_view') as views,
        count(*) filter (where event_type = 'rec_click') as rec_clicks,
        count(*) filter (where event_type = 'wishlist_add') as wishlist_adds,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        min(occurred_at) as first_at,
        max(occurred_at) as last_at,
        max(loaded_at) as loaded_at
    from weighted
    group by user_id, item_id
),

explicit as (
    select
        user_id,
        item_id,
        {{ arg_max('rating', ['occurred_at', 'loaded_at', 'event_id']) }} as rating,
        {{ arg_max('disliked', ['occurred_at', 'loaded_at', 'event_id']) }} as disliked,
        min(occurred_at) as first_at,
        max(occurred_at) as last_at,
        max(loaded_at) as loaded_at
    from scoped_ratings
    group by user_id, item_id
)

select
    user_id,
    item_id,
    coalesce(i.weight, 0) + case when x.disliked then 0 else coalesce(x.rating, 0) end
        as weight,
    coalesce(i.views, 0) as views,
    coalesce(i.rec_clicks, 0) as rec_clicks,
    coalesce(i.wishlist_adds, 0) as wishlist_adds,
    coalesce(i.add_to_carts, 0) as add_to_carts,
    coalesce(i.purchases, 0) as purchases,
    least(i.first_at, x.first_at) as first_at,
    greatest(i.last_at, x.last_at) as last_at,
    greatest(i.loaded_at, x.loaded_at) as loaded_at,
    x.rating,
    coalesce(x.disliked, false) as disliked
from implicit i
full outer join explicit x using (user_id, item_id)
