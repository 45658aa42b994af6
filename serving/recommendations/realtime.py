"""Real-time candidate sources for ``/recommendations`` (``serving.recommendations.service``).

``RealtimeSource`` ("realtime"): the neighbours of the items a user touched in the last
minutes (``keys.user_recent_items``, written by the features consumer): the published
similar items of the current version plus session co-views, each weighted by how recently
the item was touched (half-life ``RECENCY_HALF_LIFE_S``), the touched items themselves left
out. An item viewed a moment ago leads the next response.

``TrendingSource`` ("trending"): the decayed trending set, a fallback before popularity.
"""

from __future__ import annotations

import time
from operator import itemgetter

from serving.recommendations.query import RecQuery
from serving.recommendations.read_ahead import Read
from serving.recommendations.reader import OnlineStore, Publication
from shopflow.online_store import keys
from shopflow.online_store.codec import Scored

RECENT_WINDOW_S = 30 * 60
RECENT_N = 10
RECENCY_HALF_LIFE_S = 300.0
NEIGHBOURS_N = 20
COVIEW_WEIGHT = 0.5  # a co-view counts half a (normalised) similarity
TRENDING_N = 100


class RealtimeSource:
    name = "realtime"

    def reads(self, pub: Publication, query: RecQuery) -> list[Read]:
        recent = keys.user_recent_items(query.user_id)
        return [
            Read.top(recent, RECENT_N, since=time.time() - RECENT_WINDOW_S),
            Read.neighbours(keys.similar_items(pub.version, ""), NEIGHBOURS_N),
        ]

    async def fetch(
        self, store: OnlineStore, pub: Publication, query: RecQuery
    ) -> list[Scored] | None:
        now = time.time()
        recent = await store.recent_items(query.user_id, now - RECENT_WINDOW_S, RECENT_N)
        if not recent:
            return None
        touched = [item for item, _ in recent]
        similar, coviews = await store.neighbours(pub, touched, NEIGHBOURS_N)
        scores: dict[str, float] = {}
        score_of = scores.get
        for (_, at), neighbours, coviewed in zip(recent, similar, coviews, strict=True):
            weight = 2 ** (-max(0.0, now - at) / RECENCY_HALF_LIFE_S)
            for item, score in (neighbours or [])[:NEIGHBOURS_N]:
                scores[item] = score_of(item, 0.0) + weight * score
            if coviewed:  # highest first: each count is scaled by the first
                per_view = weight * COVIEW_WEIGHT / coviewed[0][1]
                for item, n in coviewed:
                    scores[item] = score_of(item, 0.0) + per_view * n
        for item in touched:
            scores.pop(item, None)
        # unrounded: the answer rounds the scores it shows (codec.SCORE_DIGITS)
        return sorted(scores.items(), key=itemgetter(1), reverse=True) or None


class TrendingSource:
    name = "trending"

    def reads(self, pub: Publication, query: RecQuery) -> list[Read]:
        return [Read.top(keys.TRENDING, TRENDING_N, candidates=True)]

    async def fetch(
        self, store: OnlineStore, pub: Publication, query: RecQuery
    ) -> list[Scored] | None:
        return await store.trending(TRENDING_N) or None
