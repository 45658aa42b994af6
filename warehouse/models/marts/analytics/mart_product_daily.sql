{{ config(**incremental_by_day('event_date')) }}
{%- set since = analytics_cutoff('event_date') %}
-- Per UTC day and item: views, viewers, cart adds, purchases and the view-to-purchase rate
-- (share of the day's viewers of the item who also bought it that day).
with views as (
    select {{ utc_date('occurred_at') }} as event_date, item_id, user_id
    from {{ ref('stg_product_views') }}
    where occurred_at >= {{ since }}
),

carts as (
    select {{ utc_date('occurred_at') }} as event_date, item_id, sum(quantity) as units
    from {{ ref('stg_add_to_carts') }}
    where occurred_at >= {{ since }}
    group by all
),

buys as (
    select
        {{ utc_date('occurred_at') }} as event_date, item_id, user_id,
        sum(quantity) as units, sum(quantity * unit_price_minor) as revenue_minor
    from {{ ref('stg_order_lines') }}
    where occurred_at >= {{ since }}
    group by all
),

view_stats as (
    select event_date, item_id, count(*) as views, count(distinct user_id) as viewers
    from views group by all
),

buy_stats as (
    select
        b.event_date, b.item_id, sum(b.units) as units_purchased,
        count(distinct b.user_id) as buyers, sum(b.revenue_minor) as revenue_minor,
        count(distinct b.user_id) filter (where v.user_id is not null) as viewers_who_bought
    from buys b
    left join (select distinct event_date, item_id, user_id from views) v
        using (event_date, item_id, user_id)
    group by all
)

select
    event_date,
    item_id,
    coalesce(v.views, 0) as views,
    coalesce(v.viewers, 0) as viewers,
    coalesce(c.units, 0)::bigint as units_added_to_cart,
    coalesce(b.units_purchased, 0)::bigint as units_purchased,
    coalesce(b.buyers, 0) as buyers,
    coalesce(b.revenue_minor, 0)::bigint as revenue_minor,
    coalesce(b.viewers_who_bought, 0) / nullif(v.viewers, 0) as view_to_purchase_rate,
    now() as built_at
from view_stats v
full outer join buy_stats b using (event_date, item_id)
left join carts c using (event_date, item_id)
