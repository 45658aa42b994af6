"""The ``privacy_erasure`` job (its asset ``applied_erasures``): erasures recorded by the API
or CLI wait in ``pipeline_pending`` until it removes their users' rows from landing Parquet and the
warehouse (``pipelines.privacy``)."""

import hashlib
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from commerce.db import get_engine, session_scope
from commerce.db.models.privacy import ErasureRequest
from commerce.privacy import erasure
from pipelines.assets.landing import LandingZoneResource
from pipelines.privacy import run_pending
from pipelines.resources import WarehouseResource


@dg.asset(
    group_name="privacy",
    kinds={"parquet", "duckdb"},
    description=(
        "Pending erasures applied to the landing zone and the warehouse: the erased users' "
        "rows are removed and personal fields older files carry are dropped."
    ),
)
def applied_erasures(
    context: dg.AssetExecutionContext,
    landing_zone: LandingZoneResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    settings = landing_zone.settings()
    roots = [settings.landing_dir, settings.import_quarantine_dir]
    done = run_pending(roots, Path(warehouse.db_path()), warehouse.connect)
    context.log.info(f"erasures finished: {len(done)} ({sum(done.values())} rows removed)")
    return dg.MaterializeResult(
        metadata={"erasures": len(done), "rows_removed": sum(done.values())}
    )


PRIVACY_ERASURE_JOB = dg.define_asset_job("privacy_erasure", selection=[applied_erasures])


def pending_ids() -> list[str]:
    """Ids of the erasures waiting for the pipeline (none without a commerce database)."""
    if not sa.inspect(get_engine()).has_table(ErasureRequest.__tablename__):
        return []
    with session_scope() as session:
        return [r.id for r in erasure.pending_pipeline(session)]


@dg.sensor(
    name="pending_erasures",
    job=PRIVACY_ERASURE_JOB,
    minimum_interval_seconds=60,
    description="Runs privacy_erasure when erasures wait for landing and the warehouse.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def pending_erasures(_context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    waiting = pending_ids()
    if not waiting:
        return dg.SkipReason("no erasure waits for the pipeline")
    # one run per set of waiting requests; a failed run is retried when the set changes
    key = hashlib.sha256("\n".join(waiting).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=key, tags={"erasures": str(len(waiting))})


ASSETS = [applied_erasures]
JOBS = [PRIVACY_ERASURE_JOB]
SENSORS = [pending_erasures]
