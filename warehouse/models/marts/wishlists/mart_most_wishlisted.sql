-- One row per product ever wishlisted, ranked by how many users wishlisted it, with the
-- wishlist-to-purchase conversion of those users (see mart_wishlist_conversion).
select
    item_id,
    count(*) as wishlisting_users,
    sum(adds) as wishlist_adds,
    count(*) filter (where removed) as removed_users,
    count(*) filter (where converted) as converted_users,
    count(*) filter (where purchased) as purchased_users,
    round(count(*) filter (where converted) / count(*), 4) as conversion_rate,
    min(first_added_at) as first_wishlisted_at,
    max(first_added_at) as last_wishlisted_at,
    rank() over (order by count(*) desc) as wishlist_rank
from {{ ref('mart_wishlist_conversion') }}
group by item_id
