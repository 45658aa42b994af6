-- One row per (user, item) ever wishlisted: when it was first added and at what price,
-- whether it was removed, and whether the same user bought it afterwards (an order line of
-- an order that was not cancelled), within the conversion window or at all.
{% set window_days = var('wishlist_conversion_days', 30) %}
with adds as (
    select
        user_id, item_id,
        min(occurred_at) as first_added_at,
        {{ arg_min('price_minor', 'occurred_at') }} as price_at_add_minor,
        {{ arg_min('currency', 'occurred_at') }} as currency,
        count(*) as adds
    from {{ ref('stg_wishlist_adds') }}
    where user_id is not null
    group by user_id, item_id
),
removes as (
    select user_id, item_id, max(occurred_at) as last_removed_at
    from {{ ref('stg_wishlist_removes') }}
    where user_id is not null
    group by user_id, item_id
),
purchases as (
    select l.user_id, l.item_id, l.occurred_at, l.unit_price_minor
    from {{ ref('stg_order_lines') }} l
    where l.order_id not in (select order_id from {{ ref('stg_order_cancellations') }})
),
first_purchase as (
    select
        a.user_id, a.item_id,
        min(p.occurred_at) as first_purchase_at,
        {{ arg_min('p.unit_price_minor', 'p.occurred_at') }} as purchase_price_minor
    from adds a
    join purchases p
      on p.user_id = a.user_id and p.item_id = a.item_id and p.occurred_at >= a.first_added_at
    group by a.user_id, a.item_id
)
select
    a.user_id,
    a.item_id,
    a.first_added_at,
    a.price_at_add_minor,
    a.currency,
    a.adds,
    r.last_removed_at,
    coalesce(r.last_removed_at > a.first_added_at, false) as removed,
    f.first_purchase_at,
    f.purchase_price_minor,
    f.first_purchase_at is not null as purchased,
    coalesce(
        f.first_purchase_at <= a.first_added_at + interval {{ window_days }} day, false
    ) as converted,
    {{ dbt.datediff('a.first_added_at', 'f.first_purchase_at', 'day') }} as days_to_purchase
from adds a
left join removes r using (user_id, item_id)
left join first_purchase f using (user_id, item_id)
