-- Account creations.
select event_id, occurred_at, user_id, country, email
from {{ source('raw', 'user_registered') }}
