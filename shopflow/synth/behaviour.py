"""One day of browsing: sessions, searches, product views, recommendation impressions and
clicks, carts, wishlists and checkouts. Everything is vectorised over the day's sessions.

Per session: ``session_start`` -> maybe a ``search`` -> 1 + NegBin(mean 4) ``product_view``
(70 % from the session's main favourite category, 20 % from a second favourite, 10 %
anywhere; 65 % of picks within the user's price tier) -> carts on ~6 % of views ->
``checkout_started`` -> the purchase funnel in :mod:`shopflow.synth.commerce`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from shopflow.synth.catalog import TOP_N
from shopflow.synth.columns import format_ids
from shopflow.synth.emit import DayEvents
from shopflow.synth.population import DAY_US
from shopflow.synth.world import World, uniform_us

HOUR_WEIGHTS = np.array(
    [
        1,
        0.6,
        0.4,
        0.3,
        0.3,
        0.5,
        1,
        2,
        3,
        3.5,
        3.6,
        3.8,
        4,
        3.8,
        3.6,
        3.6,
        3.8,
        4.2,
        4.8,
        5.4,
        5.8,
        5.2,
        3.8,
        2.2,
    ]
)
SOURCES = ("direct", "search", "email", "social", "ads")
SOURCE_WEIGHTS = (0.35, 0.30, 0.10, 0.10, 0.15)
SOURCE_CONVERSION = np.array([1.1, 1.0, 1.5, 0.6, 0.8])  # session-weighted mean ~1
DEVICES = ("desktop", "mobile", "tablet")
BASE_CONVERSION = 0.03  # purchase probability of an average session
CART_RATE = 0.06
REMOVE_RATE = 0.15
ABANDONED_CHECKOUT_RATE = 0.25
WISHLIST_RATE = 0.02
IMPRESSION_RATE = 0.18
CLICK_RATE = 0.12
IMPRESSION_SIZE = 10
PLACEMENTS = ("home", "product", "cart")


@dataclass
class Checkout:
    """The day's purchases, handed to the commerce step."""

    session: np.ndarray  # session index of each order
    user: np.ndarray
    session_ids: pa.Array
    at_us: np.ndarray  # checkout time
    line_order: np.ndarray  # order index of each line (sorted)
    line_item: np.ndarray
    line_quantity: np.ndarray
    line_price: np.ndarray


def simulate_browsing(world: World, day: int, out: DayEvents) -> Checkout:
    rng = world.rng(day, 1)
    users, catalog = world.users, world.catalog
    day_start = world.day_start_us(day)

    # ---- sessions ------------------------------------------------------------------------
    weekday = (world.start.toordinal() + day) % 7  # 0 = Monday
    rate = users.activity * (1.15 if weekday >= 5 else 1.0)
    rate = np.where(users.reg_day <= day, rate, 0.0)
    user = np.repeat(np.arange(users.size), rng.poisson(rate))
    n_s = len(user)
    hour = rng.choice(24, size=n_s, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    offset = hour * 3_600_000_000 + rng.integers(0, 3_600_000_000, n_s)
    reg_off = users.reg_offset_us[user]
    offset = np.where(
        users.reg_day[user] == day,
        reg_off + (offset * ((DAY_US - reg_off) / DAY_US)).astype(np.int64),
        offset,
    )
    order = np.argsort(offset, kind="stable")
    user, start = user[order], day_start + offset[order]
    source = rng.choice(len(SOURCES), size=n_s, p=SOURCE_WEIGHTS)
    device = np.where(rng.random(n_s) < 0.8, users.device[user], rng.integers(0, 3, n_s))
    sid = out.ids("s", n_s)
    out.add(
        "session_start",
        start,
        user,
        sid,
        traffic_source=pa.array(SOURCES).take(pa.array(source)),
        device=pa.array(DEVICES).take(pa.array(device)),
    )
    leaf1 = users.sample_leaf(rng, user)
    leaf2 = users.sample_leaf(rng, user)

    # ---- search --------------------------------------------------------------------------
    searched = rng.random(n_s) < np.where(source == 1, 0.7, 0.15)
    s_idx = np.flatnonzero(searched)
    q_leaf = leaf1[s_idx]
    query = catalog.query_start[q_leaf] + (
        rng.random(len(s_idx)) * catalog.query_count[q_leaf]
    ).astype(np.int64)
    results = np.where(rng.random(len(s_idx)) < 0.05, 0, 1 + rng.poisson(40, len(s_idx)))
    lead = np.where(searched, uniform_us(rng, 3, 12, n_s), uniform_us(rng, 1, 4, n_s))
    out.add(
        "search",
        start[s_idx] + lead[s_idx] // 2,
        user[s_idx],
        sid.take(pa.array(s_idx)),
        query=pa.array(catalog.queries).take(pa.array(query)),
        results_count=results,
    )

    # ---- product views -------------------------------------------------------------------
    n_views = 1 + rng.negative_binomial(2, 2 / 6, n_s)
    vs = np.repeat(np.arange(n_s), n_views)
    n_v = len(vs)
    first = np.cumsum(n_views) - n_views
    r = rng.random(n_v)
    explore = rng.choice(len(catalog.leaves), size=n_v, p=catalog.leaf_weight)
    v_leaf = np.where(r < 0.7, leaf1[vs], np.where(r < 0.9, leaf2[vs], explore))
    v_user = user[vs]
    item = catalog.sample(rng, v_leaf)
    in_tier = rng.random(n_v) < 0.65
    item[in_tier] = catalog.sample(rng, v_leaf[in_tier], users.tier[v_user[in_tier]])
    gaps = 5_000_000 + rng.exponential(35e6, n_v).astype(np.int64)
    cum = np.cumsum(gaps)
    v_time = start[vs] + lead[vs] + cum - np.repeat(cum[first] - gaps[first], n_views)
    v_sid = sid.take(pa.array(vs))
    out.add("product_view", v_time, v_user, v_sid, item_id=catalog.item_ids.take(pa.array(item)))
    _recommendations(world, rng, out, user, start, sid, leaf1)
    _wishlists(world, rng, out, v_user, item, v_time, v_sid)

    # ---- carts -----------------------------------------------------------------------------
    in_stock = catalog.stock[item] > 0
    conv = (
        BASE_CONVERSION
        * SOURCE_CONVERSION[source]
        * users.propensity[user]
        * world.conversion_multiplier[user]
    )
    purchase = rng.random(n_s) < np.clip(conv, 0.0, 0.95)
    first_in_stock = np.minimum.reduceat(np.where(in_stock, np.arange(n_v), n_v), first)
    purchase &= first_in_stock < n_v
    forced = np.zeros(n_v, dtype=bool)
    forced[first_in_stock[purchase]] = True
    cart = forced | ((rng.random(n_v) < CART_RATE) & in_stock)
    c = np.flatnonzero(cart)
    c_sess, c_item = vs[c], item[c]
    c_qty = rng.choice([1, 2, 3], size=len(c), p=[0.82, 0.14, 0.04])
    c_price = catalog.price_minor[c_item]
    c_time = v_time[c] + uniform_us(rng, 3, 30, len(c))
    c_sid = sid.take(pa.array(c_sess))
    c_item_ids = catalog.item_ids.take(pa.array(c_item))
    out.add(
        "add_to_cart",
        c_time,
        user[c_sess],
        c_sid,
        item_id=c_item_ids,
        quantity=c_qty,
        unit_price_minor=c_price,
        currency="USD",
    )
    removed = (rng.random(len(c)) < REMOVE_RATE) & ~forced[c]
    r_idx = np.flatnonzero(removed)
    r_time = c_time[r_idx] + uniform_us(rng, 30, 600, len(r_idx))
    out.add(
        "remove_from_cart",
        r_time,
        user[c_sess[r_idx]],
        c_sid.take(pa.array(r_idx)),
        item_id=c_item_ids.take(pa.array(r_idx)),
        quantity=c_qty[r_idx],
    )

    # ---- checkout ------------------------------------------------------------------------
    last = np.maximum.reduceat(v_time, first)
    np.maximum.at(last, c_sess, c_time)
    np.maximum.at(last, c_sess[r_idx], r_time)
    kept = ~removed
    value = np.bincount(c_sess[kept], weights=(c_qty * c_price)[kept], minlength=n_s)
    count = np.bincount(c_sess[kept], weights=c_qty[kept], minlength=n_s).astype(np.int64)
    abandoned = ~purchase & (count > 0) & (rng.random(n_s) < ABANDONED_CHECKOUT_RATE)
    k = np.flatnonzero(purchase | abandoned)
    k_time = last[k] + uniform_us(rng, 20, 120, len(k))
    out.add(
        "checkout_started",
        k_time,
        user[k],
        sid.take(pa.array(k)),
        cart_value_minor=value[k].round().astype(np.int64),
        currency="USD",
        item_count=count[k],
    )

    # ---- order lines: kept cart items of purchasing sessions, one line per item ----------
    buys = np.flatnonzero(purchase)
    order_of_session = np.full(n_s, -1)
    order_of_session[buys] = np.arange(len(buys))
    line_mask = kept & purchase[c_sess]
    key = order_of_session[c_sess[line_mask]] * catalog.size + c_item[line_mask]
    uniq, inverse = np.unique(key, return_inverse=True)
    qty = np.bincount(inverse, weights=c_qty[line_mask]).astype(np.int64)
    line_item = uniq % catalog.size
    return Checkout(
        session=buys,
        user=user[buys],
        session_ids=sid.take(pa.array(buys)),
        at_us=last[buys] + uniform_us(rng, 150, 400, len(buys)),
        line_order=uniq // catalog.size,
        line_item=line_item,
        line_quantity=np.minimum(qty, 10_000),
        line_price=catalog.price_minor[line_item],
    )


def _recommendations(
    world: World,
    rng: np.random.Generator,
    out: DayEvents,
    user: np.ndarray,
    start: np.ndarray,
    sid: pa.Array,
    leaf: np.ndarray,
) -> None:
    """Impressions of a 'synthetic' model (popular items of the session's main category),
    some clicked; a click leads to a product view carrying the request id."""
    catalog = world.catalog
    imp = np.flatnonzero(rng.random(len(user)) < IMPRESSION_RATE)
    n = len(imp)
    request = out.ids("q", n)
    shift = rng.integers(0, TOP_N - IMPRESSION_SIZE + 1, n)
    grid = catalog.top_items[leaf[imp][:, None], shift[:, None] + np.arange(IMPRESSION_SIZE)]
    item_ids = pa.ListArray.from_arrays(
        pa.array(np.arange(0, n * IMPRESSION_SIZE + 1, IMPRESSION_SIZE, dtype=np.int32)),
        catalog.item_ids.take(pa.array(grid.ravel())),
    )
    i_time = start[imp] + 1_000_000
    i_sid = sid.take(pa.array(imp))
    out.add(
        "rec_impression",
        i_time,
        user[imp],
        i_sid,
        request_id=request,
        item_ids=item_ids,
        model_name="synthetic",
        model_version="0",
        placement=pa.array(PLACEMENTS).take(pa.array(rng.choice(3, n, p=[0.6, 0.25, 0.15]))),
    )
    clicked = np.flatnonzero(rng.random(n) < CLICK_RATE)
    position = np.minimum(rng.geometric(0.35, len(clicked)) - 1, IMPRESSION_SIZE - 1)
    c_item = catalog.item_ids.take(pa.array(grid[clicked, position]))
    c_time = i_time[clicked] + uniform_us(rng, 3, 40, len(clicked))
    c_user, c_sid = user[imp[clicked]], i_sid.take(pa.array(clicked))
    c_request = request.take(pa.array(clicked))
    out.add(
        "rec_click",
        c_time,
        c_user,
        c_sid,
        request_id=c_request,
        item_id=c_item,
        position=position,
        model_version="0",
    )
    out.add(
        "product_view", c_time + 1_000_000, c_user, c_sid, item_id=c_item, rec_request_id=c_request
    )


def _wishlists(
    world: World,
    rng: np.random.Generator,
    out: DayEvents,
    v_user: np.ndarray,
    item: np.ndarray,
    v_time: np.ndarray,
    v_sid: pa.Array,
) -> None:
    """About 2 % of views add the item to the user's wishlist; a fifth are removed later."""
    catalog = world.catalog
    w = np.flatnonzero(rng.random(len(item)) < WISHLIST_RATE)
    width = max(6, len(str(world.users.size - 1)))
    w_user = v_user[w]
    wishlist = format_ids(len(w), "w", (w_user, width))
    w_time = v_time[w] + uniform_us(rng, 2, 20, len(w))
    w_item = catalog.item_ids.take(pa.array(item[w]))
    out.add(
        "wishlist_add",
        w_time,
        w_user,
        v_sid.take(pa.array(w)),
        item_id=w_item,
        wishlist_id=wishlist,
        price_minor=catalog.price_minor[item[w]],
        currency="USD",
    )
    later = w_time + uniform_us(rng, 3600, 5 * 86400, len(w))
    gone = np.flatnonzero((rng.random(len(w)) < 0.2) & (later < world.end_us))
    out.add(
        "wishlist_remove",
        later[gone],
        w_user[gone],
        None,
        item_id=w_item.take(pa.array(gone)),
        wishlist_id=wishlist.take(pa.array(gone)),
    )
