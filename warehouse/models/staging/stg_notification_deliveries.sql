-- Notification delivery status changes (outbox events notification.*), one row per event;
-- status is the event type's suffix, dead_letter marks a failure after the last retry.
-- Documented in marts/notifications/notifications.yml.
{% for status in ['sent', 'delivered', 'failed', 'bounced'] %}
select
    event_id, occurred_at, user_id, notification_id, delivery_id, workflow, category, channel,
    provider, attempts, coalesce(dead_letter, false) as dead_letter, '{{ status }}' as status
from {{ source('raw_notifications', 'notification_' ~ status) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
