"""Every online-store value's encoding and decoding, for writers and readers alike.

- item hash (``keys.item_info``): ``ITEM_FIELDS`` as text, ``blocked`` as 0/1;
  ``encode_item`` / ``decode_item``;
- scored lists (``keys.user_recs``, ``keys.similar_items``, ``keys.popular``): JSON
  ``[[item_id, score], ...]``, scores rounded to ``SCORE_DIGITS``, never NaN;
  ``encode_scored`` / ``decode_scored``, and ``encode_scored_rows`` for many lists at once
  from arrays (the publisher's bulk path; same format);
- sorted sets (recent items, trending, co-views, history): member -> score;
  ``decode_zset`` (redis-py rows) and ``decode_flat_zset`` (a script's ``WITHSCORES`` reply);
- user features hash (``keys.user_features``): ``c:{category}`` affinity, ``k:{item}`` cart
  quantity, ``s:{session}`` session views; ``encode_user_features`` / ``decode_user_features``;
- session views (``keys.session_items`` and a user's ``s:`` fields): ``encode_session`` /
  ``decode_session``.

``features.lua`` writes the user features and session views itself (atomically); it takes
the field prefixes from ``keys`` and the item's ``CATEGORY_FIELD`` through its config, and
``tests/pipelines/streaming`` reads what it wrote with these decoders.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from shopflow.online_store import keys

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

Scored = tuple[str, float]
"""An item id with a score (model score, similarity, popularity, weight or time)."""

# ---- item hash ------------------------------------------------------------------------------
CATEGORY_FIELD = "category"
"""The item hash field of the category (``features.lua`` reads it by this name, via its config)."""
ITEM_FIELDS = ("title", CATEGORY_FIELD, "brand", "price_minor", "currency", "stock", "blocked")
"""The fields of ``keys.item_info``, in the order ``decode_item`` reads them (HMGET)."""
ITEM_INT_FIELDS = frozenset(("price_minor", "stock"))
_TRUE = frozenset(("1", "true", "yes"))


@dataclass(slots=True)  # not frozen: a frozen one costs twice as much to make, per candidate
class ItemInfo:
    item_id: str
    title: str | None
    category: str | None
    brand: str | None
    price_minor: int | None
    currency: str | None
    stock: int | None
    blocked: bool

    @property
    def in_stock(self) -> bool:
        """Untracked stock (no ``stock`` field) counts as available."""
        return self.stock is None or self.stock > 0

    def public(self) -> dict[str, object]:
        """The fields a response shows."""
        return {
            "title": self.title,
            "category": self.category,
            "brand": self.brand,
            "price_minor": self.price_minor,
            "currency": self.currency,
        }


def missing(value: Any) -> bool:
    """None, NaN, or a data frame's missing marker (``<NA>``, ``NaT``)."""
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or str(value) in ("<NA>", "NaT")
    )


def is_true(value: Any) -> bool:
    """A flag: true for True/1/"1"/"true"/"yes" (any case); missing means false."""
    if missing(value):
        return False
    if isinstance(value, str | bytes):
        text = value.decode() if isinstance(value, bytes) else value
        return text.strip().lower() in _TRUE
    return bool(value)


def _text(name: str, value: Any) -> str:
    if missing(value):
        return ""
    if isinstance(value, bool) or type(value).__name__ == "bool_":  # numpy's bool too
        return "1" if value else "0"
    if name in ITEM_INT_FIELDS and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def encode_item(info: Mapping[str, Any], blocked: bool | None = None) -> dict[str, str]:
    """The hash fields for the ``ITEM_FIELDS`` in ``info`` (others ignored), as text; a missing
    value is written empty (it reads back as None). ``blocked`` given: written as "1"/"0"
    whatever ``info`` says (the publisher always writes it); else only when ``info`` has it."""
    fields = {f: _text(f, info[f]) for f in ITEM_FIELDS[:-1] if f in info}
    if blocked is None and "blocked" in info:
        blocked = is_true(info["blocked"])
    if blocked is not None:
        fields["blocked"] = "1" if blocked else "0"
    return fields


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if value.isdigit():
        return int(value)
    try:
        return int(float(value))
    except ValueError:
        return None


def decode_item(item_id: str, values: Sequence[str | None]) -> ItemInfo | None:
    """An item from its hash's ``ITEM_FIELDS`` values (HMGET order); None when it has none."""
    if values.count(None) == len(values):
        return None
    title, category, brand, price, currency, stock, blocked = values
    return ItemInfo(
        item_id,
        title,
        category,
        brand,
        _int(price),
        currency,
        _int(stock),
        blocked is not None and (blocked in _TRUE or blocked.strip().lower() in _TRUE),
    )


# ---- scored lists ---------------------------------------------------------------------------
SCORE_DIGITS = 6


def encode_scored(
    items: Iterable[tuple[Any, float]], exclude: Iterable[str] | None = None
) -> tuple[bytes, int]:
    """(JSON ``[[item_id, score], ...]``, how many non-finite scores were dropped); items in
    ``exclude`` are left out."""
    left_out = set(exclude or ())
    clean, dropped = [], 0
    for item, score in items:
        if not math.isfinite(score):
            dropped += 1
        elif item not in left_out:
            clean.append((item, round(float(score), SCORE_DIGITS)))
    return orjson.dumps(clean), dropped


def item_heads(item_ids: Sequence[Any]) -> pa.Array:
    """``["item_id",`` of every item, JSON-escaped: what ``encode_scored_rows`` takes by index
    (compute it once to encode many row slices over one catalog)."""
    import pyarrow as pa  # the bulk path only: readers import this module without it

    return pa.array([b"[" + orjson.dumps(i) + b"," for i in item_ids], pa.binary())


def encode_scored_rows(
    item_ids: Sequence[Any] | pa.Array,
    idx: np.ndarray,
    scores: np.ndarray,
    drop: np.ndarray | None = None,
) -> tuple[np.ndarray, list[bytes], int]:
    """``encode_scored`` of many lists given as arrays: row r of ``idx`` (indices into
    ``item_ids``, or into their ``item_heads``; -1 pads) and ``scores`` is one list, best
    first; entries where ``drop`` is true are left out (like ``exclude``). Returns (the rows
    with any item, their JSON values, how many non-finite scores were dropped). Built by Arrow
    kernels without a Python object per item (and without holding the GIL for long); the
    publisher's bulk path."""
    import numpy as np  # the bulk path only: readers import this module without them
    import pyarrow as pa
    import pyarrow.compute as pc

    idx = np.asarray(idx, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    present = idx >= 0
    keep = present & np.isfinite(scores)
    dropped = int(np.count_nonzero(present & ~keep))
    if drop is not None:
        keep &= ~drop
    rows = np.flatnonzero(present.any(axis=1))
    kept = keep[rows]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(kept.sum(axis=1), out=offsets[1:])
    heads = item_ids if isinstance(item_ids, pa.Array) else item_heads(item_ids)
    score_text = pc.cast(pa.array(np.round(scores[rows][kept], SCORE_DIGITS)), pa.string())
    pairs = pc.binary_join_element_wise(
        heads.take(idx[rows][kept]), score_text.cast(pa.binary()), b"]", b""
    )
    joined = pc.binary_join(pa.LargeListArray.from_arrays(offsets, pairs), b",").to_pylist()
    return rows, [b"[" + value + b"]" for value in joined], dropped


def decode_scored(raw: str | bytes | None) -> list[Scored] | None:
    """A scored list as written by ``encode_scored``; None when the key is absent."""
    if raw is None:
        return None
    return [(str(item), float(score)) for item, score in orjson.loads(raw)]


# ---- sorted sets ----------------------------------------------------------------------------
def decode_zset(rows: Iterable[Any]) -> list[Scored]:
    """redis-py's ``withscores`` rows as (member, score) pairs."""
    return [(_str(member), float(score)) for member, score in rows]


def decode_flat_zset(flat: Sequence[Any]) -> list[Scored]:
    """A script's ``WITHSCORES`` reply ([member, score, ...]) as (member, score) pairs."""
    members = flat[0::2]
    if members and not isinstance(members[0], str):  # bytes: a client that does not decode
        members = [_str(member) for member in members]
    return list(zip(members, map(float, flat[1::2]), strict=True))


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ---- user features --------------------------------------------------------------------------
@dataclass(frozen=True)
class UserFeatures:
    cart: dict[str, int]  # item id -> quantity
    affinity: list[tuple[str, float]]  # (category, score), strongest first


def encode_user_features(features: UserFeatures) -> dict[str, str]:
    """The ``keys.user_features`` fields of a cart and affinities (the features consumer's
    script writes the same; this is for tests and backfills)."""
    fields = {f"{keys.USER_CART_FIELD}{item}": str(n) for item, n in features.cart.items()}
    for category, score in features.affinity:
        fields[f"{keys.USER_AFFINITY_FIELD}{category}"] = repr(float(score))
    return fields


def decode_user_features(fields: Mapping[str | bytes, str | bytes]) -> UserFeatures:
    """The cart and affinities in a ``keys.user_features`` hash (as HGETALL returns it);
    session and bookkeeping fields are skipped."""
    cart: dict[str, int] = {}
    affinity: list[tuple[str, float]] = []
    for raw_name, raw_value in fields.items():
        name, value = _str(raw_name), _str(raw_value)
        if name.startswith(keys.USER_CART_FIELD):
            cart[name.removeprefix(keys.USER_CART_FIELD)] = int(value)
        elif name.startswith(keys.USER_AFFINITY_FIELD):
            affinity.append((name.removeprefix(keys.USER_AFFINITY_FIELD), float(value)))
    affinity.sort(key=lambda pair: pair[1], reverse=True)
    return UserFeatures(cart=cart, affinity=affinity)


# ---- session views --------------------------------------------------------------------------
def encode_session(items: Sequence[str], last_view: int | None = None) -> str:
    """An anonymous session's value (JSON array of distinct items, in order), or with
    ``last_view`` (epoch seconds) a user's ``s:`` field: ``"<last_view> <JSON array>"``."""
    array = orjson.dumps(list(items)).decode()
    return array if last_view is None else f"{last_view} {array}"


def decode_session(value: str | bytes) -> tuple[int | None, list[str]]:
    """(epoch seconds of the last new view or None for an anonymous session, items)."""
    text = _str(value)
    if text.startswith("["):
        return None, [str(i) for i in orjson.loads(text)]
    at, _, array = text.partition(" ")
    return int(float(at)), [str(i) for i in orjson.loads(array)]
