{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['user_id', 'item_id'],
    on_schema_change='append_new_columns'
) }}
-- depends_on: {{ ref('stg_order_lines') }}
{%- set since = interactions_cutoff() %}
-- The user x item interaction matrix: per pair, the sum of the weights of its events. Which
-- event types count and how much comes from raw.event_weights (shopflow.events.
-- INTERACTION_WEIGHTS) through the interaction_events() macro; a purchase is one order line.
-- Anonymous events (no user_id) are left out. Incremental: a run recomputes only the pairs
-- with newly loaded events (macro interactions_cutoff), equal to a full build.
with events as (
    {{ interaction_events() }}
),

{% if is_incremental() %}
changed as (
    select distinct user_id, item_id from events where loaded_at >= {{ since }}
),

scoped as (
    select e.* from events e semi join changed c using (user_id, item_id)
),
{% else %}
scoped as (
    select * from events
),
{% endif %}

weighted as (
    select s.*, w.weight
    from scoped s
    join {{ source('raw', 'event_weights') }} w using (event_type)
    where s.user_id is not null
)

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
