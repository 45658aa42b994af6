"""What a recommendation request asks for (``RecQuery``) and what a candidate source is
(``CandidateSource``): the contract between ``service`` and the sources in ``realtime``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from serving.recommendations.read_ahead import Read
from serving.recommendations.reader import OnlineStore, Publication
from shopflow.online_store import keys
from shopflow.online_store.codec import Scored


@dataclass(frozen=True, slots=True)
class RecQuery:
    user_id: str
    limit: int = 10
    strategy: str = keys.CHAMPION
    category: str | None = None
    max_per_category: int | None = None
    exclude: frozenset[str] = frozenset()


class CandidateSource(Protocol):
    """Proposes scored items for a user, best first; None/[] when it has nothing. ``reads``
    plans what ``fetch`` will read, so that the request's read-ahead makes those reads in the
    same round trip (optional: without it, or with none, ``fetch`` reads on its own)."""

    name: str

    def reads(self, pub: Publication, query: RecQuery) -> list[Read]: ...

    async def fetch(
        self, store: OnlineStore, pub: Publication, query: RecQuery
    ) -> list[Scored] | None: ...
