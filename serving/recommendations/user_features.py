"""A user's real-time features as the features consumer writes them: one hash per user
(``keys.user_features``) with the cart lines and the decayed category affinities."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis

from shopflow import keys


@dataclass(frozen=True)
class UserFeatures:
    cart: dict[str, int]  # item id -> quantity
    affinity: list[tuple[str, float]]  # (category, score), strongest first


def parse_user_features(fields: Mapping[str | bytes, str | bytes]) -> UserFeatures:
    """The features in a ``keys.user_features`` hash (as HGETALL returns it)."""
    cart: dict[str, int] = {}
    affinity: list[tuple[str, float]] = []
    for raw_name, raw_value in fields.items():
        name = raw_name.decode() if isinstance(raw_name, bytes) else raw_name
        value = raw_value.decode() if isinstance(raw_value, bytes) else raw_value
        if name.startswith(keys.USER_CART_FIELD):
            cart[name.removeprefix(keys.USER_CART_FIELD)] = int(value)
        elif name.startswith(keys.USER_AFFINITY_FIELD):
            affinity.append((name.removeprefix(keys.USER_AFFINITY_FIELD), float(value)))
    affinity.sort(key=lambda pair: pair[1], reverse=True)
    return UserFeatures(cart=cart, affinity=affinity)


async def user_features(redis: aioredis.Redis, user_id: str) -> UserFeatures:
    """A user's cart and category affinities (empty when the user has none)."""
    return parse_user_features(await redis.hgetall(keys.user_features(user_id)))
