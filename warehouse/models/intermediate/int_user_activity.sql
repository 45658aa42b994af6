-- Every event that names a user: the base of first/last seen and session counts.
{% set sources = ['stg_sessions', 'stg_product_views', 'stg_rec_clicks', 'stg_wishlist_adds',
                  'stg_add_to_carts', 'stg_users_registered', 'stg_orders'] %}
{% for name in sources %}
select user_id, occurred_at, {{ 'session_id' if name not in ('stg_users_registered',) else 'null::varchar' }} as session_id
from {{ ref(name) }}
where user_id is not null
{% if not loop.last %}union all{% endif %}
{% endfor %}
