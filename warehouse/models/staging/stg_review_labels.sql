-- The spam classifier's training labels: per review, the latest moderation decision
-- (approved = ham, rejected with reason "spam" = spam) with the latest submitted text,
-- rating, product and author. Imported reviews carry their labels the same way
-- (`shopflow import reviews --label-col`). Rejections for other reasons are no spam label,
-- so their reviews are left out.
with decisions as (
    select review_id, occurred_at, 'ham' as label from {{ source('raw', 'review_approved') }}
    union all
    select review_id, occurred_at,
        case when lower(coalesce(reason, '')) = 'spam' then 'spam' else 'other' end as label
    from {{ source('raw', 'review_rejected') }}
),

latest as (
    select review_id, {{ arg_max('label', 'occurred_at') }} as label, max(occurred_at) as decided_at
    from decisions
    group by review_id
),

texts as (
    select
        review_id,
        {{ arg_max('title', 'occurred_at') }} as title,
        {{ arg_max('body', 'occurred_at') }} as body,
        {{ arg_max('item_id', 'occurred_at') }} as item_id,
        {{ arg_max('user_id', 'occurred_at') }} as user_id,
        {{ arg_max('rating', 'occurred_at') }} as rating,
        min(occurred_at) as submitted_at
    from {{ source('raw', 'review_submitted') }}
    group by review_id
)

select
    t.review_id, t.title, t.body, t.item_id, t.user_id, t.rating, t.submitted_at,
    l.label, (l.label = 'spam')::int as is_spam, l.decided_at
from texts as t
inner join latest as l using (review_id)
where l.label in ('ham', 'spam')
