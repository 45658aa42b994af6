"""Landing zone -> DuckDB raw tables (group ``landing``). The SQL lives in pipelines.raw_load."""

from dataclasses import asdict
from pathlib import Path

import dagster as dg

from pipelines import raw_load
from pipelines.resources import WarehouseResource
from shopflow.config import Settings, get_settings

RAW_EVENTS = dg.AssetKey("raw_events")
QUARANTINE_CHECK = "quarantine_share"


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


def quarantine_check(report: raw_load.LoadReport, threshold: float) -> dg.AssetCheckResult:
    """Warns when the share of quarantined rows among the rows this load read is above
    ``threshold`` (Settings.quarantine_warn_share): a producer is sending broken events."""
    total = report.total()
    share = total.rows_quarantined / total.rows_read if total.rows_read else 0.0
    by_type = {
        t: round(s.rows_quarantined / s.rows_read, 4)
        for t, s in report.by_type.items()
        if s.rows_quarantined
    }
    return dg.AssetCheckResult(
        check_name=QUARANTINE_CHECK,
        passed=share <= threshold,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{total.rows_quarantined} of {total.rows_read} rows read were quarantined",
        metadata={
            "rows_read": dg.MetadataValue.int(total.rows_read),
            "rows_quarantined": dg.MetadataValue.int(total.rows_quarantined),
            "quarantine_share": dg.MetadataValue.float(round(share, 6)),
            "threshold": dg.MetadataValue.float(threshold),
            "share_by_event_type": dg.MetadataValue.json(by_type),
        },
    )


@dg.asset(
    key=RAW_EVENTS,
    group_name="landing",
    kinds={"duckdb", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(
            QUARANTINE_CHECK,
            asset=RAW_EVENTS,
            description="Warns when the last load quarantined more than "
            "Settings.quarantine_warn_share of the rows it read.",
        )
    ],
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
    threshold = landing_zone.settings().quarantine_warn_share
    return dg.MaterializeResult(
        metadata=_metadata(report), check_results=[quarantine_check(report, threshold)]
    )


ASSETS = [raw_events]
RESOURCES = {"landing_zone": LandingZoneResource()}
