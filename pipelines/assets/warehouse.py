"""The dbt project in warehouse/ as Dagster assets; dbt tests become asset checks.

Asset keys are the plain model names (``AssetKey("fct_interactions")``); every dbt source
maps onto the ``raw_events`` landing asset, so the graph reads landing -> staging -> marts.
The manifest is (re)built with ``dbt parse`` when missing or older than the project files.
"""

import fcntl
import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from pipelines import spark_warehouse
from pipelines.assets.landing import RAW_EVENTS
from pipelines.instance import QUIET_ENV, REPO_ROOT
from pipelines.resources import WarehouseResource
from shopflow.config import get_settings
from shopflow.spark import require_java

DBT_PROJECT_DIR = REPO_ROOT / "warehouse"
#: dbt from this interpreter's environment, so a non-activated venv works too.
DBT_EXECUTABLE = shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")
WAREHOUSE_PATH_ENV = "SHOPFLOW_WAREHOUSE_PATH"
_PROJECT_FILES = ("*.yml", "models/**/*", "macros/**/*", "tests/**/*", "seeds/**/*")

for _name, _value in QUIET_ENV.items():
    os.environ.setdefault(_name, _value)
# dbt writes its target/ and logs under SHOPFLOW_HOME, never into the checkout
os.environ.setdefault("DBT_LOG_PATH", str(get_settings().dbt_log_dir))
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, target_path=get_settings().dbt_target_dir)


def manifest_is_stale(project: DbtProject) -> bool:
    """True when manifest.json is missing or older than a file of the dbt project."""
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    root = Path(project.project_dir)
    return any(
        path.stat().st_mtime > built
        for pattern in _PROJECT_FILES
        for path in root.glob(pattern)
        if path.is_file()
    )


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Run ``dbt parse`` if the manifest is missing or stale (one process at a time)."""
    if not manifest_is_stale(project):
        return project.manifest_path
    target = Path(project.project_dir) / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest_is_stale(project):
            dbt = DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
            dbt.cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project.manifest_path


class ShopflowDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return RAW_EVENTS
        return dg.AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # The model's folder: staging, intermediate, marts, analytics (marts/analytics), ...
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[-2] if len(fqn) > 2 else "warehouse"


TRANSLATOR = ShopflowDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True, enable_duplicate_source_asset_keys=True
    )
)


class ShopflowDbtCliResource(DbtCliResource):
    """``DbtCliResource`` without the in-process dbt adapter. dagster-dbt builds one per
    invocation only to fetch column metadata and row counts, which these assets never ask for;
    it costs seconds of imports and profile parsing in every run."""

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None


def partial_parse_cache(warehouse_path: str) -> Path:
    """Where dbt's partial-parse state for one warehouse file is kept between runs.

    dbt discards that state when the profile (which holds the warehouse path) changes, and
    dagster-dbt gives every run a fresh target folder seeded from the project's own target/
    (parsed for the default path), so without this every run re-parsed the whole project."""
    db = Path(warehouse_path)
    return db.with_name(f".{db.name}.dbt-partial-parse.msgpack")


def _state(path: Path) -> tuple[int, int] | None:
    return (path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False
    """Rebuild incremental models from scratch (``dbt build --full-refresh``)."""


@dbt_assets(manifest=ensure_manifest(), dagster_dbt_translator=TRANSLATOR, name="warehouse_dbt")
def warehouse_dbt(
    context: dg.AssetExecutionContext,
    config: DbtBuildConfig,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
) -> Iterator[Any]:
    """``dbt build`` of the selected models and their tests against the DuckDB warehouse."""
    os.environ[WAREHOUSE_PATH_ENV] = warehouse.db_path()
    settings = get_settings()
    if settings.warehouse_engine == "spark":  # dbt-spark reads the raw layer as Parquet
        require_java()
        with warehouse.connect(read_only=True) as con:
            spark_warehouse.export_raw(con, spark_warehouse.raw_dir(settings))
        os.environ.update(spark_warehouse.dbt_env(settings))
    # A test spanning a selected and an unselected model (a relationships test) waits for a
    # run that builds both, instead of failing on a table that is not built yet.
    os.environ.setdefault("DBT_INDIRECT_SELECTION", "cautious")
    run_target = (
        get_settings().dbt_target_dir / f"warehouse_dbt-{context.run.run_id[:8]}-{os.getpid()}"
    )
    run_target.mkdir(parents=True, exist_ok=True)
    cache, state = partial_parse_cache(warehouse.db_path()), run_target / "partial_parse.msgpack"
    if cache.exists():  # dbt reads it from the run's target folder (and rewrites it if stale)
        shutil.copyfile(cache, state)
    seeded = _state(state)
    try:
        args = ["build", "--full-refresh"] if config.full_refresh else ["build"]
        yield from dbt.cli(args, context=context, target_path=run_target).stream()
    finally:
        if _state(state) not in (None, seeded):  # dbt parsed: keep its state for the next run
            tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
            shutil.copyfile(state, tmp)
            os.replace(tmp, cache)
    shutil.rmtree(run_target, ignore_errors=True)  # a failed run's folder stays for a look


ASSETS = [warehouse_dbt]
#: Run config that makes a run rebuild the incremental marts from scratch.
FULL_REFRESH_RUN_CONFIG = {"ops": {warehouse_dbt.op.name: {"config": {"full_refresh": True}}}}
RESOURCES = {
    "dbt": ShopflowDbtCliResource(
        project_dir=dbt_project,  # type: ignore[arg-type]  # a validator takes a DbtProject; the plugin sees str
        dbt_executable=DBT_EXECUTABLE,
    )
}
