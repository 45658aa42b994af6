-- One row per experiment and exposed user: the input of the `experiment_results` asset.
-- Exposure = a rec_impression naming the experiment; the user's variant is that of their first
-- exposure (variants_seen > 1 flags contamination). Outcomes count orders placed after the
-- first exposure (not cancelled, in the user's main currency); pre_revenue_minor is the same
-- user's revenue in the `experiment_pre_days` (default 28) days before it, the CUPED covariate.
{% set pre_days = var('experiment_pre_days', 28) %}
with exposures as (
    select
        experiment_key,
        user_id,
        {{ arg_min('variant', 'occurred_at') }} as variant,
        count(distinct variant) as variants_seen,
        min(occurred_at) as first_exposed_at,
        count(*) as impressions
    from {{ ref('stg_rec_impressions') }}
    where experiment_key is not null and variant is not null and user_id is not null
    group by experiment_key, user_id
),

clicks as (
    select experiment_key, user_id, count(*) as clicks
    from {{ ref('stg_rec_clicks') }}
    where experiment_key is not null and user_id is not null
    group by all
),

orders as (
    select o.user_id, o.occurred_at, o.total_minor, o.currency
    from {{ ref('stg_orders') }} o
    where o.user_id is not null and not exists (
        select 1 from {{ ref('stg_order_cancellations') }} c where c.order_id = o.order_id)
),

main_currency as (
    {{ most_frequent('orders', 'user_id', 'currency') }}
),

outcomes as (
    select
        e.experiment_key,
        e.user_id,
        count(o.user_id) filter (where o.occurred_at >= e.first_exposed_at) as orders,
        coalesce(sum(o.total_minor) filter (where o.occurred_at >= e.first_exposed_at), 0)
            as revenue_minor,
        coalesce(sum(o.total_minor) filter (
            where o.occurred_at < e.first_exposed_at
                and o.occurred_at >= e.first_exposed_at - interval '{{ pre_days }} days'
        ), 0) as pre_revenue_minor
    from exposures e
    left join main_currency m using (user_id)
    left join orders o on o.user_id = e.user_id and o.currency = m.currency
    group by all
)

select
    e.experiment_key,
    e.variant,
    e.user_id,
    e.first_exposed_at,
    e.variants_seen,
    e.impressions,
    coalesce(c.clicks, 0) as clicks,
    (o.orders > 0)::integer as converted,
    o.orders,
    o.revenue_minor::bigint as revenue_minor,
    o.pre_revenue_minor::bigint as pre_revenue_minor,
    m.currency
from exposures e
join outcomes o using (experiment_key, user_id)
left join clicks c using (experiment_key, user_id)
left join main_currency m using (user_id)
