-- Behaviour: one row per rec_click event.
select event_id, occurred_at, user_id, session_id, item_id, request_id, position, model_version, experiment_key, variant
from {{ source('raw', 'rec_click') }}
