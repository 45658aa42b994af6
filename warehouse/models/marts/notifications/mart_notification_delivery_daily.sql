{{ config(**incremental_by_day('event_date')) }}
{%- set since = analytics_cutoff('event_date') %}
-- Delivery outcomes per UTC day, workflow and channel. A delivery counts on the day of each
-- status it reached: sent (accepted by the provider, or delivered directly in-app),
-- delivered, failed (permanently), dead_lettered (retries exhausted), bounced. Incremental
-- like the analytics marts: a run recomputes the days from the newest built day minus
-- var analytics_lookback_days and leaves older days alone.
with deliveries as (
    select
        {{ utc_date('occurred_at') }} as event_date, workflow, channel, delivery_id, status,
        dead_letter, attempts
    from {{ ref('stg_notification_deliveries') }}
    where occurred_at >= {{ since }}
)

select
    event_date,
    workflow,
    channel,
    count(distinct delivery_id) filter (where status in ('sent', 'delivered')) as sent,
    count(distinct delivery_id) filter (where status = 'delivered') as delivered,
    count(distinct delivery_id) filter (where status = 'failed' and not dead_letter) as failed,
    count(distinct delivery_id) filter (where status = 'failed' and dead_letter) as dead_lettered,
    count(distinct delivery_id) filter (where status = 'bounced') as bounced,
    delivered / nullif(sent, 0) as delivery_rate,
    avg(attempts) filter (where status in ('sent', 'delivered', 'failed')) as avg_attempts,
    now() as built_at
from deliveries
group by event_date, workflow, channel
