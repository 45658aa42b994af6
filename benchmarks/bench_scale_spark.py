"""The same work on one machine's engines and on local Spark (issue 16, items 1-2).

- marts: a generated shop (SHOPFLOW_BENCH_SPARK_EVENTS events, default 2M) loaded once, then
  ``dbt run`` on DuckDB and on Spark (dbt-spark session, local[2]): wall time each, ratio;
- ALS: implicit vs Spark MLlib (implicitPrefs) on the same matrix and split (fct_interactions of
  that shop): fit time each, ratio, and NDCG@10 each;
- publish of the Spark model's lists: scored and written by Spark tasks against one process.

``run()`` returns the figures (benchmarks/bench_scale.py prints them with its own); ``main()``
prints them. On a 2-core machine Spark pays its JVM, task scheduling and shuffles with no
cluster to spread over: the ratio is its fixed cost, not its ceiling.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

EVENTS = int(os.environ.get("SHOPFLOW_BENCH_SPARK_EVENTS", "2000000"))
DAYS = 14
PARAMS: dict[str, Any] = {
    "factors": 32,
    "regularization": 0.05,
    "alpha": 10.0,
    "iterations": 10,
    "seed": 1,
}


def _shop(home: Path) -> Any:
    from pipelines.raw_load import load_landing
    from shopflow.config import Settings
    from shopflow.generate import EVENTS_PER_USER_DAY, generate_shop

    settings = Settings(home=home)
    settings.ensure_dirs()
    users = max(50, round(EVENTS / (EVENTS_PER_USER_DAY * DAYS)))
    generate_shop(users, DAYS, 7, settings=settings, progress=False)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        load_landing(con, settings.landing_dir)
        events = sum(
            con.execute(f"select count(*) from raw.{t}").fetchone()[0]  # type: ignore[index]
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
                " and table_name not in ('_loaded_files', 'event_weights', 'quarantine')"
            ).fetchall()
        )
    return settings, events


def _marts(settings: Any) -> dict[str, float]:
    from pipelines import spark_warehouse

    dbt = str(Path(sys.executable).parent / "dbt")
    work = settings.home_dir / "dbt-duckdb"
    env = os.environ | {"SHOPFLOW_WAREHOUSE_PATH": str(settings.warehouse_path)}
    started = time.perf_counter()
    subprocess.run(
        [
            dbt,
            "run",
            "--project-dir",
            str(spark_warehouse.DBT_DIR),
            "--profiles-dir",
            str(spark_warehouse.DBT_DIR),
            "--target",
            "duckdb",
            "--target-path",
            str(work),
            "--log-path",
            str(work / "logs"),
        ],  # fmt: skip
        env=env,
        check=True,
        capture_output=True,
    )
    duck_s = time.perf_counter() - started
    from shopflow.spark import spark_session

    spark_session(settings)  # the JVM's start is timed apart from the build
    started = time.perf_counter()
    spark_warehouse.build_on_spark(settings, ["run"])
    spark_s = time.perf_counter() - started
    return {"marts_duckdb_s": duck_s, "marts_spark_s": spark_s, "marts_ratio": spark_s / duck_s}


def _als(settings: Any) -> dict[str, float]:
    from models.evaluation import evaluate, per_user_split
    from models.factorization import ALS
    from models.spark_als import SparkALS
    from models.training import prepare

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        interactions = con.execute("select * from main.fct_interactions").df()
        items = con.execute("select * from main.dim_items").df()
    data = prepare(interactions, items)[0]
    split = per_user_split(data, 0.2)
    out: dict[str, float] = {"als_interactions": float(data.nnz)}
    for name, cls in (("implicit", ALS), ("spark", SparkALS)):
        started = time.perf_counter()
        model = cls(**PARAMS).fit(split.train)
        out[f"als_{name}_fit_s"] = time.perf_counter() - started
        out[f"als_{name}_ndcg10"] = evaluate(model, split)["ndcg"]
    out["als_fit_ratio"] = out["als_spark_fit_s"] / out["als_implicit_fit_s"]
    return out | _publish(model, settings)


def _publish(model: Any, settings: Any) -> dict[str, float]:
    """The Spark model's lists published by Spark tasks against the same lists scored and
    written by one process (the same code per user), into one Redis, best of two each."""
    from shopflow import embedded
    from shopflow.online_store import connect

    users = [str(u) for u in model.user_ids]
    popular = [str(i) for i in model.item_ids[:50]]
    client = connect.connect(embedded.start_redis(settings).url)
    try:
        return _publish_rounds(client, model, users, popular)
    finally:
        client.close()
        embedded.stop("redis", settings)


def _publish_rounds(
    client: Any, model: Any, users: list[str], popular: list[str]
) -> dict[str, float]:
    from models.served import publish_lists
    from pipelines.publish import PublishBundle, RankedLists, publish
    from pipelines.spark_publish import SparkLists

    def one_process() -> PublishBundle:
        idx, scores = publish_lists(model, users, popular, 20)
        return PublishBundle(recs={"als": RankedLists(users, model.item_ids, idx, scores)})

    def on_spark() -> PublishBundle:
        return PublishBundle(recs={"als": SparkLists(model, users, popular, 20)})

    best = {"one": float("inf"), "spark": float("inf")}
    for _ in range(2):
        for side, bundle in (("one", one_process), ("spark", on_spark)):
            started = time.perf_counter()
            publish(client, bundle())
            best[side] = min(best[side], time.perf_counter() - started)
    return {"publish_users": float(len(users)), "publish_one_s": best["one"],
            "publish_spark_s": best["spark"],
            "publish_ratio": best["spark"] / best["one"]}  # fmt: skip


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-scale-spark-") as tmp:
        os.environ["SHOPFLOW_HOME"] = tmp
        from shopflow.config import get_settings

        get_settings.cache_clear()
        settings, events = _shop(Path(tmp))
        figures: dict[str, float] = {"events": float(events)}
        figures |= _marts(settings)
        figures |= _als(settings)
        return figures


def main() -> None:
    figures = run()
    print(f"scale_spark over {int(figures['events']):,} events")
    print(
        f"  marts: DuckDB {figures['marts_duckdb_s']:.1f} s, Spark local[2] "
        f"{figures['marts_spark_s']:.1f} s (ratio spark/duckdb {figures['marts_ratio']:.2f})"
    )
    print(
        f"  ALS on {int(figures['als_interactions']):,} interactions: implicit "
        f"{figures['als_implicit_fit_s']:.1f} s NDCG@10 {figures['als_implicit_ndcg10']:.4f}; "
        f"Spark MLlib {figures['als_spark_fit_s']:.1f} s NDCG@10 "
        f"{figures['als_spark_ndcg10']:.4f} (fit ratio spark/implicit "
        f"{figures['als_fit_ratio']:.2f})"
    )
    print(
        f"  publish of that model's lists ({int(figures['publish_users']):,} users, top-20, "
        f"scoring included): one process {figures['publish_one_s']:.1f} s, Spark tasks "
        f"{figures['publish_spark_s']:.1f} s (ratio spark/one {figures['publish_ratio']:.2f})"
    )


if __name__ == "__main__":
    main()
