-- Behaviour: one row per rec_impression event (a shown recommendation list; an A/B exposure
-- when experiment_key is set).
select
    event_id, occurred_at, user_id, session_id, request_id, {{ array_length('item_ids') }} as items_shown,
    model_name, model_version, placement, experiment_key, variant
from {{ source('raw', 'rec_impression') }}
