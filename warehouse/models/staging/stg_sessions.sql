-- Visits: one row per session_start event.
select event_id, occurred_at, user_id, session_id, traffic_source, device
from {{ source('raw', 'session_start') }}
