"""Recommendation rules, apart from HTTP. ``recommend`` is a pipeline:

candidate sources -> merge (each item keeps every source that proposed it) -> business filters
(unknown, excluded, blocked, already bought, disliked, out of stock, category) and the diversity
cap -> truncate to ``limit`` -> backfill from popularity.

The batch source reads the published list of a ``strategy`` (default the champion). More
sources (real-time neighbours, trending) plug in with ``add_source``; an experiment picks the
``strategy`` per variant. Bodies are plain dicts shaped like ``serving.routers.recommendations``'
response models, ready to serialize.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import Any

from commerce.errors import Invalid, NotFound, Unavailable
from serving.recommendations.query import CandidateSource, RecQuery
from serving.recommendations.read_ahead import Read, ReadAhead
from serving.recommendations.reader import Availability, OnlineStore, Publication
from serving.recommendations.realtime import RealtimeSource, TrendingSource
from shopflow import ids
from shopflow.online_store import keys
from shopflow.online_store.codec import SCORE_DIGITS, ItemInfo, Scored

NOT_PUBLISHED = "no recommendations published yet; run shopflow materialize"
NO_HISTORY = "no published recommendations for this user (no history): popular items instead"
POPULARITY = "popularity"


class BatchSource:
    """The user's published top-N list of the query's strategy."""

    name = "batch"

    def reads(self, pub: Publication, query: RecQuery) -> list[Read]:
        return [Read.scored_list(keys.user_recs(pub.version, query.user_id, query.strategy))]

    async def fetch(
        self, store: OnlineStore, pub: Publication, query: RecQuery
    ) -> list[Scored] | None:
        return await store.user_recs(pub, query.user_id, query.strategy)


class PopularitySource:
    """Popular items of the query's category (global when none is published for it)."""

    name = POPULARITY

    def reads(self, pub: Publication, query: RecQuery) -> list[Read]:
        category = [keys.popular(pub.version, query.category)] if query.category else []
        return [Read.scored_list(key) for key in (*category, keys.popular(pub.version))]

    async def fetch(
        self, store: OnlineStore, pub: Publication, query: RecQuery
    ) -> list[Scored] | None:
        if query.category:
            in_category = await store.popular(pub, query.category)
            if in_category:
                return in_category
        return await store.popular(pub)


SOURCES: list[CandidateSource] = [BatchSource(), RealtimeSource()]
"""The primary candidate sources, in priority order (realtime: neighbours of recent items)."""
FALLBACKS: list[CandidateSource] = [TrendingSource()]
"""Tried in order, before popularity, while slots remain."""
BACKFILL: CandidateSource = PopularitySource()


def add_source(source: CandidateSource) -> None:
    """Plug a candidate source (e.g. real-time) into every request, after the existing ones."""
    if all(s.name != source.name for s in SOURCES):
        SOURCES.append(source)


@dataclass(slots=True)
class Candidate:
    item_id: str
    score: float
    sources: list[str]


def merge(lists: list[tuple[str, list[Scored]]]) -> Iterator[Candidate]:
    """Interleave the sources' lists round-robin, lazily (a request usually needs only the first
    candidates), each item once with every source that proposes it, in the order the walk
    meets them; its score is the one from the first source that proposed it."""
    if len(lists) == 1:
        yield from one_source(*lists[0])
        return
    first_ranks = [_first_ranks(items) for _, items in lists]
    seen: set[str] = set()
    for rank in range(max((len(items) for _, items in lists), default=0)):
        for name, items in lists:
            if rank >= len(items):
                continue
            item_id, score = items[rank]
            if item_id in seen:
                continue
            seen.add(item_id)
            proposing = [n for n, ranks in enumerate(first_ranks) if item_id in ranks]
            if len(proposing) == 1:
                yield Candidate(item_id, score, [name])
                continue
            met = sorted((first_ranks[n][item_id], n) for n in proposing)
            yield Candidate(item_id, score, [lists[n][0] for _, n in met])


def _first_ranks(items: list[Scored]) -> dict[str, int]:
    """Each item's first rank in ``items``."""
    ids = list(map(itemgetter(0), items))
    return dict(zip(reversed(ids), range(len(ids) - 1, -1, -1), strict=True))


def one_source(name: str, items: list[Scored]) -> Iterator[Candidate]:
    """``merge`` of a single list, lazily: a request usually needs only its first items."""
    seen: set[str] = set()
    for item_id, score in items:
        if item_id not in seen:
            seen.add(item_id)
            yield Candidate(item_id, score, [name])


def rejection(item_id: str, avail: Availability, query: RecQuery) -> str | None:
    """Why a business filter removes ``item_id`` (None: it may be shown)."""
    info = avail.info.get(item_id)
    if info is None:
        return "unknown item"
    if info.blocked or item_id in avail.blocked:
        return "blocked"
    if item_id in avail.purchased:
        return "already bought"
    if item_id in avail.disliked:
        return "disliked"
    if not info.in_stock:
        return "out of stock"
    if query.category and info.category != query.category:
        return "other category"
    return None


@dataclass(slots=True)
class Picks:
    """The items chosen so far, with the diversity cap's per-category counts."""

    query: RecQuery
    chosen: list[tuple[Candidate, ItemInfo]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    per_category: Counter[str | None] = field(default_factory=Counter)

    @property
    def missing(self) -> int:
        return self.query.limit - len(self.chosen)

    def offer(self, candidate: Candidate, avail: Availability) -> None:
        if self.missing <= 0 or candidate.item_id in self.seen:
            return
        if rejection(candidate.item_id, avail, self.query):
            return
        info = avail.info[candidate.item_id]
        assert info is not None  # rejection() said it is known
        cap = self.query.max_per_category
        if cap is not None and self.per_category[info.category] >= cap:
            return
        self.seen.add(candidate.item_id)
        self.per_category[info.category] += 1
        self.chosen.append((candidate, info))


def _chunk_size(missing: int) -> int:
    """Candidates to check for ``missing`` slots: some over-fetch replaces filtered items."""
    return missing * 3 // 2 + 4


async def fill(
    store: OnlineStore, picks: Picks, candidates: Iterable[Candidate], user_id: str | None
) -> None:
    """Offer candidates in order, reading their availability a chunk at a time (over-fetching
    so that filtered items are replaced), until ``limit`` items are picked."""
    skip = picks.seen | picks.query.exclude
    pending = (c for c in candidates if c.item_id not in skip)
    while picks.missing > 0:
        chunk = list(islice(pending, _chunk_size(picks.missing)))
        if not chunk:
            break
        avail = await store.availability([c.item_id for c in chunk], user_id)
        for candidate in chunk:
            picks.offer(candidate, avail)


async def current_publication(store: OnlineStore) -> Publication:
    pub = await store.publication()
    if pub is None:
        raise Unavailable(NOT_PUBLISHED)
    return pub


def _check_strategy(pub: Publication, strategy: str) -> None:
    known = pub.strategies
    if known and strategy not in known:
        raise Invalid(
            f"unknown strategy {strategy!r}; published strategies: {', '.join(known)}",
            strategies=known,
        )


def _item_body(candidate: Candidate, info: ItemInfo) -> dict[str, object]:
    return {
        "item_id": candidate.item_id,
        "score": round(candidate.score, SCORE_DIGITS),
        "title": info.title,
        "category": info.category,
        "brand": info.brand,
        "price_minor": info.price_minor,
        "currency": info.currency,
        "sources": candidate.sources,
    }


def _sources_of(picks: Picks) -> list[str]:
    return list(dict.fromkeys(name for c, _ in picks.chosen for name in c.sources))


def _planned(source: CandidateSource, pub: Publication, query: RecQuery) -> list[Read]:
    """A source's planned reads; one without ``reads`` plans none (it reads on its own)."""
    reads = getattr(source, "reads", None)
    return reads(pub, query) if reads is not None else []


def _read_ahead(pub: Publication, query: RecQuery) -> ReadAhead:
    """The reads every source plans, in the order ``recommend`` consults them; the fallbacks'
    only while nothing earlier was found, as ``recommend`` goes to them."""
    reads = [read for source in SOURCES for read in _planned(source, pub, query)]
    for source in (*FALLBACKS, BACKFILL):
        reads.extend(read.as_fallback() for read in _planned(source, pub, query))
    return ReadAhead(query.user_id, tuple(reads), _chunk_size(query.limit) + len(query.exclude))


async def recommend(store: OnlineStore, query: RecQuery) -> dict[str, object]:
    """A user's recommendations: see the module docstring for the pipeline."""
    pub = await current_publication(store)
    _check_strategy(pub, query.strategy)
    store = await store.read_ahead(_read_ahead(pub, query))
    # one after the other: with the read-ahead most answer from memory, and a task per source
    # would cost more than the source
    found = [(s.name, items) for s in list(SOURCES) if (items := await s.fetch(store, pub, query))]
    picks = Picks(query)
    await fill(store, picks, merge(found), query.user_id)
    for backfill in (*FALLBACKS, BACKFILL):
        if picks.missing <= 0:
            break
        extra = await backfill.fetch(store, pub, query) or []
        await fill(store, picks, one_source(backfill.name, extra), query.user_id)
    fallback = not found
    model, model_version = pub.model_of(POPULARITY if fallback else query.strategy)
    return {
        "user_id": query.user_id,
        "request_id": str(ids.uuid4()),
        "strategy": query.strategy,
        "variant": None,
        "model": model or (POPULARITY if fallback else None),
        "model_version": model_version,
        "published_version": pub.version,
        "published_at": pub.published_at,
        "sources": _sources_of(picks),
        "fallback": fallback,
        "fallback_reason": NO_HISTORY if fallback else None,
        "items": [_item_body(c, info) for c, info in picks.chosen],
    }


async def _known_item(store: OnlineStore, item_id: str) -> ItemInfo:
    info = await store.item_info(item_id)
    if info is None:
        raise NotFound(f"item {item_id!r} is unknown", item_id=item_id)
    return info


async def similar(store: OnlineStore, item_id: str, limit: int = 10) -> dict[str, object]:
    """An item's published neighbours that may be shown (not blocked, in stock); popular items
    of its category when it has none."""
    pub = await current_publication(store)
    info = await _known_item(store, item_id)
    neighbours = await store.similar(pub, item_id)
    fallback = not neighbours
    name = "similar"
    if fallback:
        name = POPULARITY
        neighbours = await PopularitySource().fetch(
            store, pub, RecQuery(user_id="", category=info.category)
        )
    query = RecQuery(user_id="", limit=limit, exclude=frozenset({item_id}))
    picks = Picks(query)
    await fill(store, picks, one_source(name, neighbours or []), user_id=None)
    return {
        "item_id": item_id,
        "request_id": str(ids.uuid4()),
        "published_version": pub.version,
        "sources": _sources_of(picks),
        "fallback": fallback,
        "fallback_reason": "no published neighbours: popular items of its category instead"
        if fallback
        else None,
        "items": [_item_body(c, i) for c, i in picks.chosen],
    }


def _rank_of(items: list[Scored] | None, item_id: str) -> tuple[int, float] | None:
    for rank, (candidate, score) in enumerate(items or [], start=1):
        if candidate == item_id:
            return rank, score
    return None


async def explain(
    store: OnlineStore,
    user_id: str,
    item_id: str,
    strategy: str = keys.CHAMPION,
    history_n: int = 100,
) -> dict[str, object]:
    """Why ``item_id`` is (or would be) recommended to ``user_id``: the user's history items
    that have it among their neighbours, and where it stands in the batch and popular lists."""
    pub = await current_publication(store)
    _check_strategy(pub, strategy)
    avail = await store.availability([item_id], user_id)
    if avail.info.get(item_id) is None:
        raise NotFound(f"item {item_id!r} is unknown", item_id=item_id)
    history, recs, popular = await asyncio.gather(
        store.user_history(pub, user_id, history_n),
        store.user_recs(pub, user_id, strategy),
        store.popular(pub),
    )
    neighbour_lists = await store.lists([keys.similar_items(pub.version, h) for h, _ in history])
    because: list[dict[str, Any]] = []
    for (hist_item, weight), neighbours in zip(history, neighbour_lists, strict=True):
        hit = next((s for n, s in neighbours or [] if n == item_id), None)
        if hit is not None:
            because.append({"item_id": hist_item, "interaction_weight": weight, "similarity": hit})
    because.sort(key=lambda b: -b["interaction_weight"] * b["similarity"])
    titles = await store.item_infos([str(b["item_id"]) for b in because])
    for b in because:
        info = titles.get(str(b["item_id"]))
        b["title"] = info.title if info else None
    batch, pop = _rank_of(recs, item_id), _rank_of(popular, item_id)
    sources = ["batch"] if batch else ([POPULARITY] if pop and not recs else [])
    filtered_by = rejection(item_id, avail, RecQuery(user_id=user_id))
    model, model_version = pub.model_of(strategy if recs else POPULARITY)
    return {
        "user_id": user_id,
        "item_id": item_id,
        "strategy": strategy,
        "model": model,
        "model_version": model_version,
        "published_version": pub.version,
        "recommended": bool(sources) and filtered_by is None,
        "filtered_by": filtered_by,
        "sources": sources,
        "fallback": not recs,
        "batch_rank": batch[0] if batch else None,
        "batch_score": batch[1] if batch else None,
        "popularity_rank": pop[0] if pop else None,
        "popularity_score": pop[1] if pop else None,
        "because": because,
    }
