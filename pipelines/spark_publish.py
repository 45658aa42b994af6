"""Publish scoring on Spark: the per-user lists of a model trained on Spark are scored and
written to Redis by Spark tasks, one slice of the users each, so neither the scores nor the
encoded lists pass through the publishing process.

Each task runs the same code as a publish on one machine (``models.served.publish_lists``,
then ``pipelines.publish.ranked_json``) on its users, with the model broadcast once, and
writes its keys under the publish's version with MSETs. The publishing process keeps the lock
(renewed while the tasks run) and flips the pointer only after every task has written, so
readers never see a partial version. A task that fails is retried by Spark; rewriting a key of
the version being built is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from models.base import Recommender
from models.registry import ModelRef
from shopflow import embedded
from shopflow.online_store import connect, keys
from shopflow.repeating import repeating


@dataclass
class SparkLists:
    """The lists of ``users`` under ``model``, to be scored and written by Spark at publish.
    The arguments are those of ``models.served.publish_lists``."""

    model: Recommender
    users: list[str]
    fallback: list[str]
    n: int
    exclude: dict[str, set[str]] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)
    redis_url: str = ""  # empty: the settings' Redis (``embedded.ensure_redis``)
    partitions: int = 0  # 0: the session's default parallelism

    def write(
        self, version: str, strategy: str, refresh: Callable[[], None], every_s: float
    ) -> tuple[list[str], int, int]:
        """Score and write every list of ``strategy`` under ``version``, calling ``refresh``
        every ``every_s`` seconds meanwhile. Returns (owners written, keys, dropped scores)."""
        from shopflow.spark import spark_session

        context = spark_session().sparkContext
        shared = context.broadcast(
            {
                "model": self.model,
                "fallback": self.fallback,
                "n": self.n,
                "unavailable": self.unavailable,
                "exclude": self.exclude,
                "url": self.redis_url or embedded.ensure_redis(),
                "version": version,
                "strategy": strategy,
            }
        )
        slices = self.partitions or context.defaultParallelism
        try:
            with repeating(refresh, every_s, "publish-lock"):
                results = (
                    context.parallelize(self.users, max(1, min(slices, len(self.users))))
                    .mapPartitions(lambda users: _write_slice(shared.value, users))
                    .collect()
                )
        finally:
            shared.unpersist()
        owners = [owner for written, _ in results for owner in written]
        return owners, len(owners), sum(dropped for _, dropped in results)


def scored_on_spark(ref: ModelRef, model: Recommender) -> bool:
    """Whether ``model`` was trained on Spark: an ALS whose matrix the settings send there
    (``models.spark_als.als_engine``, the rule training follows)."""
    from models.spark_als import als_engine

    return (
        ref.model_type == "als"
        and model.excluded is not None
        and (als_engine(model.excluded.nnz) == "spark")
    )


def _write_slice(shared: dict[str, Any], users: Iterable[str]) -> Iterator[tuple[list[str], int]]:
    """One Spark task: score its users, encode their lists, write them; yields (owners
    written, dropped scores)."""
    from models.served import publish_lists
    from pipelines.publish import RankedLists, ranked_json, write_strings

    chunk = list(users)
    if not chunk:
        return
    model: Recommender = shared["model"]
    exclude = {u: shared["exclude"][u] for u in chunk if u in shared["exclude"]}
    idx, scores = publish_lists(
        model, chunk, shared["fallback"], shared["n"], exclude, shared["unavailable"]
    )
    owners, values, dropped = ranked_json(RankedLists(chunk, model.item_ids, idx, scores), exclude)
    version, strategy = shared["version"], shared["strategy"]
    client = connect.connect(shared["url"])
    try:
        write_strings(client, version, ((keys.user_recs(version, o, strategy), v)
                                        for o, v in zip(owners, values, strict=True)))  # fmt: skip
    finally:
        client.close()
    yield owners, dropped
