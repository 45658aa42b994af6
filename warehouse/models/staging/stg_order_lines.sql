-- One row per order line; a purchase in the interaction matrix. loaded_at: when the order
-- reached the warehouse (raw._loaded_at), for incremental marts. The order is deduplicated
-- before its lines are unnested (engines differ on whether a qualify sees unnested rows).
with orders as (
    select occurred_at, user_id, order_id, currency, _loaded_at, lines
    from {{ source('raw', 'order_placed') }}
    qualify row_number() over (partition by order_id order by occurred_at, event_id) = 1
),

lines as (
    select occurred_at, user_id, order_id, currency, _loaded_at, {{ unnest_array('lines') }} as line
    from orders
)

select
    order_id, occurred_at, user_id, line.item_id as item_id, line.quantity as quantity,
    line.unit_price_minor as unit_price_minor, currency, _loaded_at as loaded_at
from lines
