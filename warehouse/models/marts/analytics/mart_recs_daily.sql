{{ config(**incremental_by_day('event_date')) }}
{%- set since = analytics_cutoff('event_date') %}
-- Recommendation performance per UTC day, model version and experiment variant: impressions
-- (shown lists), clicks, CTR, and what followed a click on the same item by the same user
-- within `rec_attribution_hours` (default 24): cart adds and order-line revenue, each
-- credited to the latest click before it (dated by the click).
{% set window_h = var('rec_attribution_hours', 24) %}
with impressions as (
    select
        {{ utc_date('occurred_at') }} as event_date,
        model_version,
        coalesce(experiment_key, '(none)') as experiment_key,
        coalesce(variant, '(none)') as variant,
        count(*) as impressions,
        sum(items_shown) as items_shown
    from {{ ref('stg_rec_impressions') }}
    where occurred_at >= {{ since }}
    group by all
),

clicks as (
    select
        event_id as click_id, occurred_at, user_id, item_id, model_version,
        coalesce(experiment_key, '(none)') as experiment_key,
        coalesce(variant, '(none)') as variant
    from {{ ref('stg_rec_clicks') }}
    where occurred_at >= {{ since }} and user_id is not null
),

-- Each cart add / order line goes to the latest click on its item by its user at or before it
-- (an as-of join, spelled as a ranked join so every engine runs it), if within the window.
carts as (
    select click_id, quantity
    from (
        select c.click_id, c.occurred_at as clicked_at, a.occurred_at, a.quantity
        from {{ ref('stg_add_to_carts') }} a
        join clicks c
            on a.user_id = c.user_id and a.item_id = c.item_id and a.occurred_at >= c.occurred_at
        where a.occurred_at >= {{ since }}
        qualify row_number() over (
            partition by a.event_id order by c.occurred_at desc, c.click_id desc) = 1
    ) latest
    where occurred_at <= clicked_at + interval '{{ window_h }} hours'
),

purchases as (
    select click_id, revenue_minor
    from (
        select
            c.click_id, c.occurred_at as clicked_at, l.occurred_at,
            l.quantity * l.unit_price_minor as revenue_minor
        from {{ ref('stg_order_lines') }} l
        join clicks c
            on l.user_id = c.user_id and l.item_id = c.item_id and l.occurred_at >= c.occurred_at
        where l.occurred_at >= {{ since }}
        qualify row_number() over (
            partition by l.order_id, l.item_id order by c.occurred_at desc, c.click_id desc) = 1
    ) latest
    where occurred_at <= clicked_at + interval '{{ window_h }} hours'
),

click_stats as (
    select
        {{ utc_date('c.occurred_at') }} as event_date,
        c.model_version, c.experiment_key, c.variant,
        count(distinct c.click_id) as clicks,
        count(distinct k.click_id) as clicks_to_cart,
        count(distinct p.click_id) as clicks_to_purchase,
        coalesce(sum(p.revenue_minor), 0)::bigint as attributed_revenue_minor
    from clicks c
    left join carts k using (click_id)
    left join purchases p using (click_id)
    group by all
)

select
    event_date,
    model_version,
    experiment_key,
    variant,
    coalesce(i.impressions, 0) as impressions,
    coalesce(i.items_shown, 0)::bigint as items_shown,
    coalesce(k.clicks, 0) as clicks,
    coalesce(k.clicks, 0) / nullif(i.impressions, 0) as ctr,
    coalesce(k.clicks_to_cart, 0) as clicks_to_cart,
    coalesce(k.clicks_to_purchase, 0) as clicks_to_purchase,
    coalesce(k.attributed_revenue_minor, 0)::bigint as attributed_revenue_minor,
    now() as built_at
from impressions i
full outer join click_stats k using (event_date, model_version, experiment_key, variant)
