{{ config(**incremental_by_day('activity_week')) }}
{%- set since = analytics_cutoff('activity_week', truncate='week') %}
-- Weekly cohort retention: users first seen in `cohort_week` (Monday, UTC) who were active
-- in `activity_week`. An incremental run recomputes the latest week(s) only.
with cohorts as (
    select user_id, date_trunc('week', {{ utc_date('first_seen_at') }})::date as cohort_week
    from {{ ref('dim_users') }}
),

cohort_sizes as (
    select cohort_week, count(*) as cohort_users from cohorts group by cohort_week
),

active as (
    select distinct user_id, date_trunc('week', {{ utc_date('occurred_at') }})::date as activity_week
    from {{ ref('int_user_activity') }}
    where occurred_at >= {{ since }}
)

select
    c.cohort_week,
    a.activity_week,
    cast(floor({{ dbt.datediff('c.cohort_week', 'a.activity_week', 'day') }} / 7) as integer)
        as week_number,
    count(*) as active_users,
    max(s.cohort_users) as cohort_users,
    count(*) / max(s.cohort_users) as retention_rate,
    now() as built_at
from active a
join cohorts c using (user_id)
join cohort_sizes s using (cohort_week)
group by c.cohort_week, a.activity_week
