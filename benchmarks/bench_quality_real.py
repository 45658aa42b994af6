"""Recommender quality on real data: MovieLens 100K (explicit 1-5 stars), scored on the
per-user temporal split (each user's latest 20 % of ratings held out; ratings >= 4 relevant;
items seen in train removed), as served: the champion's lists composed with the popularity
fallback exactly as publishing writes them (``models.served``).

The figure: served NDCG@10 as a ratio to the better baseline (popularity by train counts, and
implicit's ALS with library defaults, both scored on the same split in the same run), and next
to EASE with its default lambda. Target: >= 1.10x the better baseline, and >= EASE.

The data is not part of the repo: ``../shared/data/movielens-100k`` next to the repo root, or
``SHOPFLOW_MOVIELENS_DIR``. Without it the benchmark prints a skip line and returns.

Two figures:

- **served over HTTP** (the headline), on a per-user split of the file: the training part goes
  through the public path in a temporary SHOPFLOW_HOME (``shopflow import catalog u.item``,
  ``shopflow import interactions --rating-col rating --rating-scale 1,5 --positive-threshold
  4``, then ``materialize``: landing, dbt marts, every recommender asset, the gate, the publish
  into a real Redis), ``serving.app`` runs under uvicorn and ``GET
  /recommendations/{user}?limit=10&strategy=champion`` is scored for every test user; the
  baselines and EASE are fitted on the same training part in this process.
  ``SHOPFLOW_BENCH_IMPORT=direct`` writes the marts directly instead of the CLI and dbt;
- **offline** (``train_and_evaluate`` on the whole file, the per-kind table): the same
  served composition computed in-process; ``SHOPFLOW_BENCH_SKIP_HTTP=1`` runs only this one.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from models.data import Interactions
from models.evaluation import Split, metric_table_markdown, metrics_from_lists, per_user_split
from models.training import TrainingConfig, train_and_evaluate
from models.tuning import score_config

POSITIVE_THRESHOLD = 4.0
PIPELINE = "key:raw_events or kind:dbt or group:recommenders"
TARGET_VS_BASELINE = 1.10


def movielens_dir() -> Path:
    override = os.environ.get("SHOPFLOW_MOVIELENS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared/data/movielens-100k"


def import_ratings(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``u.data`` and ``u.item`` as the marts hold them: one row per (user, item) with the
    rating, ``disliked`` (rating below the threshold; such a rating adds no weight) and
    ``weight`` (the rating for positives), times in UTC; the catalog with title and genre."""
    ratings = pd.read_csv(folder / "u.data", sep="\t", names=["user_id", "item_id", "rating", "ts"])
    at = pd.to_datetime(ratings["ts"], unit="s", utc=True)
    disliked = ratings["rating"] < POSITIVE_THRESHOLD
    interactions = pd.DataFrame(
        {
            "user_id": ratings["user_id"].astype(str),
            "item_id": ratings["item_id"].astype(str),
            "rating": ratings["rating"].astype(float),
            "disliked": disliked,
            "weight": ratings["rating"].astype(float).where(~disliked, 0.0),
            "first_at": at,
            "last_at": at,
        }
    )
    genres = pd.read_csv(folder / "u.genre", sep="|", names=["genre", "id"])["genre"].tolist()
    raw = pd.read_csv(folder / "u.item", sep="|", header=None, encoding="latin-1")
    flags = raw.iloc[:, 5 : 5 + len(genres)].to_numpy(dtype=bool)
    items = pd.DataFrame(
        {
            "item_id": raw[0].astype(str),
            "title": raw[1].astype(str),
            "category": [
                next((g for g, f in zip(genres, row, strict=True) if f), "") for row in flags
            ],
            "description": [
                " ".join(g for g, f in zip(genres, row, strict=True) if f) for row in flags
            ],
        }
    )
    return interactions, items


def train_rows(frame: pd.DataFrame, split: Split) -> pd.DataFrame:
    """The rows of ``frame`` whose (user, item) pair is in the split's training part."""
    coo = split.train.matrix.tocoo()
    pairs = pd.DataFrame(
        {
            "user_id": split.train.user_ids[coo.row].astype(str),
            "item_id": split.train.item_ids[coo.col].astype(str),
        }
    )
    return frame.merge(pairs, on=["user_id", "item_id"], how="inner")


def write_marts(warehouse_path: Path, interactions: pd.DataFrame, items: pd.DataFrame) -> None:
    """The import step: the ``fct_interactions`` and ``dim_items`` marts, written directly."""
    import duckdb

    with duckdb.connect(str(warehouse_path)) as con:
        con.register("i", interactions)
        con.register("t", items)
        con.execute("create or replace table fct_interactions as select * from i")
        con.execute("create or replace table dim_items as select * from t")


def import_via_cli(folder: Path, train: pd.DataFrame, home: Path) -> None:
    """The import step through the public CLI: ``import catalog u.item`` and ``import
    interactions`` of the training ratings (``--rating-col``, threshold 4 on a 1-5 scale)."""
    import subprocess
    import sys

    ratings = home / "train_ratings.tsv"
    epoch = pd.Timestamp(0, tz="UTC")
    seconds = ((train["first_at"] - epoch) // pd.Timedelta(seconds=1)).astype("int64")
    raw = pd.DataFrame(
        {"user": train["user_id"], "item": train["item_id"], "rating": train["rating"].astype(int),
         "ts": seconds}
    )  # fmt: skip
    raw.to_csv(ratings, sep="\t", header=False, index=False)
    commands = [
        ["import", "catalog", str(folder / "u.item"), "--sep", "|", "--no-header",
         "--encoding", "latin-1", "--id-col", "column_1", "--title-col", "column_2"],
        ["import", "interactions", str(ratings), "--sep", "tab", "--names", "user,item,rating,ts",
         "--user-col", "user", "--item-col", "item", "--time-col", "ts", "--rating-col", "rating",
         "--rating-scale", "1,5", "--positive-threshold", str(POSITIVE_THRESHOLD)],
    ]  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    for argv in commands:
        subprocess.run(
            [sys.executable, "-m", "cli", *argv], cwd=root, env=dict(os.environ), check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip


def served_over_http(
    folder: Path, train: pd.DataFrame, items: pd.DataFrame, split: Split, k: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """Import the training part, materialize, serve, and score the HTTP answers on the split's
    held-out items. Returns the metrics and the evaluation asset's metadata.

    ``SHOPFLOW_BENCH_IMPORT=cli`` (default): the CLI imports, then ``materialize_all`` (landing,
    dbt marts, every recommender asset, publish); ``direct``: the marts written by
    :func:`write_marts`, then only the recommender assets."""
    import dagster as dg
    import httpx

    from benchmarks.loadgen import bearer, uvicorn_server
    from cli.commands.materialize import failed_steps, materialize_all
    from pipelines.assets.recommenders import ASSETS
    from pipelines.resources import MLflowResource, RedisResource, WarehouseResource
    from shopflow import embedded as services
    from shopflow.config import Settings, get_settings

    via_cli = os.environ.get("SHOPFLOW_BENCH_IMPORT", "cli") == "cli"
    with tempfile.TemporaryDirectory(prefix="bench-quality-real-") as tmp:
        os.environ["SHOPFLOW_HOME"] = tmp
        os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        get_settings.cache_clear()
        settings = Settings(home=Path(tmp))
        settings.ensure_dirs()
        try:
            redis_url = services.start_redis(settings).url
            os.environ["REDIS_URL"] = redis_url
            get_settings.cache_clear()
            if via_cli:
                import_via_cli(folder, train, Path(tmp))
                result = materialize_all(get_settings(), selection=PIPELINE)
                if not result.success:
                    raise RuntimeError(f"materialize failed: {failed_steps(result)}")
            else:
                write_marts(settings.warehouse_path, train, items)
                resources = {
                    "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
                    "redis": RedisResource(url=redis_url),
                    "mlflow": MLflowResource(tracking_uri=settings.mlflow_uri),
                }
                result = dg.materialize(ASSETS, resources=resources, raise_on_error=False)
                if not result.success:
                    raise RuntimeError("the recommender assets failed")
            meta = result.asset_materializations_for_node("recommender_evaluation")[0].metadata
            evaluation = {key: value.value for key, value in meta.items()}
            evaluation["import"] = "cli" if via_cli else "direct"
            users = [str(split.train.user_ids[u]) for u in split.test_users]
            env = {**os.environ, "SHOPFLOW_HOME": tmp, "REDIS_URL": redis_url}
            path = "/recommendations/{}?limit={}&strategy=champion"
            lists: list[list[int]] = []
            with (
                uvicorn_server(
                    "serving.app:create_app", env, path.format(users[0], k), headers=bearer()
                ) as (url, _),
                httpx.Client(base_url=url, headers=bearer(), timeout=30) as client,
            ):
                for user in users:
                    response = client.get(path.format(user, k))
                    response.raise_for_status()
                    ids = [item["item_id"] for item in response.json()["items"]]
                    rows = [split.train.item_index(i) for i in ids]
                    lists.append([r for r in rows if r is not None])
        finally:
            services.stop_all(settings)
            get_settings.cache_clear()
    return metrics_from_lists(lists, split, k), evaluation


def http_figure(interactions: pd.DataFrame, items: pd.DataFrame, k: int) -> None:
    """Served over HTTP against the baselines and EASE on the same per-user split."""
    from models.evaluation import evaluate_served
    from models.factory import build
    from models.kinds import BASELINES
    from models.popularity import Popularity

    t0 = time.perf_counter()
    data = Interactions.from_frame(interactions)
    split = per_user_split(data)
    folder = movielens_dir()
    train = train_rows(interactions, split)
    served, evaluation = served_over_http(folder, train, items, split, k)
    counts = Popularity(**BASELINES["popularity"][1]).fit(split.train).top_indices(50)
    rows = {"served:http": served}
    for name, (kind, params) in BASELINES.items():
        model = build(kind, params).fit(split.train)
        rows[f"baseline:{name}"] = evaluate_served(model, split, counts, k)
    rows["ref:ease_default"] = evaluate_served(build("ease").fit(split.train), split, counts, k)
    seconds = time.perf_counter() - t0
    print(
        f"\nserved over HTTP: {len(split.test_users)} test users, champion "
        f"{evaluation.get('champion')} ({evaluation.get('best_model')}, gate "
        f"{evaluation.get('gate')}), import {evaluation.get('import')}, {seconds:.0f} s"
    )
    print(metric_table_markdown(rows, k))
    _verdict("served (HTTP)", rows, k)


def _verdict(label: str, rows: dict[str, dict[str, float]], k: int) -> None:
    served = next(v for name, v in rows.items() if name.startswith("served"))
    pop, als = rows["baseline:popularity"], rows["baseline:als_defaults"]
    ease = rows["ref:ease_default"]
    best_baseline = max(pop["ndcg"], als["ndcg"])
    print(f"{label} ndcg@{k}={served['ndcg']:.4f} recall@{k}={served['recall']:.4f}")
    print(f"popularity ndcg@{k}={pop['ndcg']:.4f} recall@{k}={pop['recall']:.4f}")
    print(f"als_defaults ndcg@{k}={als['ndcg']:.4f} recall@{k}={als['recall']:.4f}")
    print(f"ease (default lambda) ndcg@{k}={ease['ndcg']:.4f} recall@{k}={ease['recall']:.4f}")
    ratio = served["ndcg"] / best_baseline if best_baseline else float("inf")
    vs_ease = served["ndcg"] / ease["ndcg"] if ease["ndcg"] else float("inf")
    print(f"ratio {label}/best baseline NDCG@{k}: {ratio:.2f} (target >= {TARGET_VS_BASELINE})")
    print(f"ratio {label}/EASE NDCG@{k}: {vs_ease:.2f} (target >= 1.00)")
    met = ratio >= TARGET_VS_BASELINE and vs_ease >= 1.0
    print(f"{label}: target met" if met else f"{label}: target NOT met")


def main() -> None:
    folder = movielens_dir()
    if not (folder / "u.data").exists():
        print(f"skip: MovieLens 100K not found at {folder} (set SHOPFLOW_MOVIELENS_DIR)")
        return
    t0 = time.perf_counter()
    interactions, items = import_ratings(folder)
    config = TrainingConfig()
    result = train_and_evaluate(interactions, items, config)
    prep = result.prepared
    assert prep is not None
    k = config.k
    fallback = prep.fallback(prep.test, config.depth)
    ease = score_config("ease", {}, prep.test, prep.catalog, fallback, k, config.depth)
    seconds = time.perf_counter() - t0
    best = result.best
    pop, als = result.baselines["popularity"], result.baselines["als_defaults"]
    print(
        f"MovieLens 100K: {result.data.n_users:,} users x {result.data.n_items:,} items, "
        f"{result.data.nnz:,} ratings; {prep.describe()['split']}: "
        f"{len(prep.test.test_users)} test users; {seconds:.0f} s "
        f"(tuning budget {result.tuning_budget_s:g} s per kind)"
    )
    rows = {f"served:{k_}" if k_ == best else k_: v for k_, v in result.table.items()}
    rows |= {"baseline:popularity": pop, "baseline:als_defaults": als, "ref:ease_default": ease}
    print(metric_table_markdown(rows, k))
    print(f"champion (best on validation): {best} {result.params[best]}")
    _verdict("served (offline)", rows, k)
    if os.environ.get("SHOPFLOW_BENCH_SKIP_HTTP") != "1":
        http_figure(interactions, items, k)


if __name__ == "__main__":
    main()
