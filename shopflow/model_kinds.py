"""The names of the recommender model kinds and of the strategies a request or an experiment
variant may serve: the one list every layer reads (training and the Dagster assets through
``models.kinds``, publishing, experiments, serving). Names only: the classes live in
``models.kinds``."""

from __future__ import annotations

from typing import Final, Literal, get_args

ModelKind = Literal["popularity", "als", "bpr", "item_item", "content", "ease", "hybrid"]
Strategy = Literal["popularity", "als", "bpr", "item_item", "content", "ease", "hybrid", "champion"]

#: Every model type the pipeline trains (one Dagster asset and one MLflow model each).
MODEL_KINDS: Final[tuple[str, ...]] = get_args(ModelKind)
#: The kinds published as per-user batch lists (``keys.user_recs``); ``popularity`` is
#: published as the popular lists (``keys.popular``) instead.
BATCH_STRATEGIES: Final[tuple[str, ...]] = tuple(k for k in MODEL_KINDS if k != "popularity")
#: What a request or an experiment variant may serve: every kind, plus the champion.
STRATEGIES: Final[tuple[str, ...]] = get_args(Strategy)
