"""The ``privacy_erasure`` job: erasures recorded by the API or CLI wait in
``pipeline_pending`` until this removes their users' rows from landing Parquet and the
warehouse (``pipelines.privacy``)."""

from pathlib import Path

import dagster as dg

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
def privacy_erasure(
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


PRIVACY_ERASURE_JOB = dg.define_asset_job("privacy_erasure", selection=[privacy_erasure])
ASSETS = [privacy_erasure]
JOBS = [PRIVACY_ERASURE_JOB]
