-- Explicit feedback: one row per rating event, on the scale it was given on. Each event
-- carries the positive threshold of its import, so disliked = rating below that threshold.
select
    event_id, occurred_at, user_id, session_id, item_id, rating, scale_min, scale_max,
    positive_threshold, rating < positive_threshold as disliked, _loaded_at as loaded_at
from {{ source('raw', 'rating') }}
