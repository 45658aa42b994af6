{{ config(**incremental_by_day('event_date')) }}
{%- set since = analytics_cutoff('event_date') %}
-- Reviews per UTC day: submissions and their ratings, moderation outcomes that day, and the
-- spam rate (share of the day's moderation outcomes that rejected or flagged a review as
-- spam: its reason mentions spam or spam_score >= 0.5).
with reviews as (
    select
        {{ utc_date('occurred_at') }} as event_date, status, rating,
        status in ('rejected', 'flagged')
            and (coalesce(reason, '') ilike '%spam%' or coalesce(spam_score, 0) >= 0.5) as is_spam
    from {{ ref('stg_reviews') }}
    where occurred_at >= {{ since }}
)

select
    event_date,
    count(*) filter (where status = 'submitted') as submitted,
    avg(rating) filter (where status = 'submitted') as avg_rating,
    {% for r in range(1, 6) -%}
    count(*) filter (where status = 'submitted' and rating = {{ r }}) as rating_{{ r }},
    {% endfor -%}
    count(*) filter (where status = 'approved') as approved,
    count(*) filter (where status = 'rejected') as rejected,
    count(*) filter (where status = 'flagged') as flagged,
    count(*) filter (where is_spam) as spam,
    count(*) filter (where is_spam) / nullif(approved + rejected + flagged, 0) as spam_rate,
    approved / nullif(approved + rejected, 0) as approval_rate,
    now() as built_at
from reviews
group by event_date
