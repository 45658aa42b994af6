"""Landing zone -> DuckDB raw tables (group ``landing``). The SQL lives in pipelines.raw_load."""

from dataclasses import asdict
from pathlib import Path

import dagster as dg

from pipelines import raw_load
from pipelines.resources import WarehouseResource
from shopflow.config import Settings, get_settings

RAW_EVENTS = dg.AssetKey("raw_events")


class LandingZoneResource(dg.ConfigurableResource):
    """The landing zone of a data dir. Empty ``home`` means the configured SHOPFLOW_HOME."""

    home: str = ""

    def settings(self) -> Settings:
        return Settings(home=Path(self.home)) if self.home else get_settings()

    def root(self) -> Path:
        return self.settings().landing_dir


def _metadata(report: raw_load.LoadReport) -> dict[str, dg.MetadataValue]:
    total = report.total()
    header = (
        "| event type | files | rows loaded | quarantined | duplicates skipped |\n"
        "|---|---|---|---|---|"
    )
    lines = [
        f"| {t} | {s.files} | {s.rows_loaded} | {s.rows_quarantined} | {s.duplicates_skipped} |"
        for t, s in report.by_type.items()
        if s.files
    ]
    return {
        "files": dg.MetadataValue.int(total.files),
        "rows_loaded": dg.MetadataValue.int(total.rows_loaded),
        "rows_quarantined": dg.MetadataValue.int(total.rows_quarantined),
        "duplicates_skipped": dg.MetadataValue.int(total.duplicates_skipped),
        "by_event_type": dg.MetadataValue.json(
            {t: asdict(s) for t, s in report.by_type.items() if s.files}
        ),
        "summary": dg.MetadataValue.md("\n".join([header, *lines])),
    }


@dg.asset(
    key=RAW_EVENTS,
    group_name="landing",
    kinds={"duckdb", "parquet"},
    description=(
        "Loads new landing Parquet files into raw.<event table> (contract-checked, deduplicated "
        "on event_id); rejected rows go to raw.quarantine with their reasons."
    ),
)
def raw_events(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing_zone: LandingZoneResource,
) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        report = raw_load.load_landing(con, landing_zone.root())
    total = report.total()
    context.log.info(
        f"loaded {total.rows_loaded} rows from {total.files} files; "
        f"{total.rows_quarantined} quarantined, {total.duplicates_skipped} duplicates skipped"
    )
    return dg.MaterializeResult(metadata=_metadata(report))


ASSETS = [raw_events]
RESOURCES = {"landing_zone": LandingZoneResource()}
