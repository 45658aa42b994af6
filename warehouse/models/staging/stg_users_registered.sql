-- Account creations (no PII: the email never lands, only the country).
select event_id, occurred_at, user_id, country
from {{ source('raw', 'user_registered') }}
