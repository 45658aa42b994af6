-- Every event that names a user, from every stream a user acts in (exposures, reviews,
-- ratings, payments included), so dim_users knows every user any event names. Left out:
-- messages the shop sends (notification.*, wishlist alerts) and catalog events.
{% set streams = [
    (ref('stg_sessions'), true), (ref('stg_product_views'), true),
    (source('raw', 'search'), true), (ref('stg_rec_impressions'), true),
    (ref('stg_rec_clicks'), true), (ref('stg_wishlist_adds'), true),
    (ref('stg_wishlist_removes'), true), (ref('stg_add_to_carts'), true),
    (source('raw', 'remove_from_cart'), true), (ref('stg_checkouts'), true),
    (ref('stg_orders'), true), (ref('stg_ratings'), true),
    (ref('stg_users_registered'), false), (ref('stg_reviews'), false),
    (ref('stg_payment_events'), false),
] %}
{% for relation, has_session in streams %}
select user_id, occurred_at, {{ 'session_id' if has_session else 'cast(null as ' ~ dbt.type_string() ~ ')' }} as session_id
from {{ relation }}
where user_id is not null
{% if not loop.last %}union all{% endif %}
{% endfor %}
