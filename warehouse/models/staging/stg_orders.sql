-- One row per placed order (order_placed is the order's first event).
select
    event_id, occurred_at, user_id, session_id, order_id, total_minor, currency,
    {{ array_length('lines') }} as line_count
from {{ source('raw', 'order_placed') }}
qualify row_number() over (partition by order_id order by occurred_at, event_id) = 1
