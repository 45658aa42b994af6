-- Every review lifecycle event; status is the event type's suffix.
{% for status in ['submitted', 'approved', 'rejected', 'flagged'] %}
select
    event_id, occurred_at, user_id, review_id, item_id, rating, verified_purchase, reason,
    spam_score, '{{ status }}' as status
from {{ source('raw', 'review_' ~ status) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
