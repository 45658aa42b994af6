"""When the whole graph runs: daily, and when new landing partitions appear."""

import hashlib

import dagster as dg

from pipelines.assets.landing import RAW_EVENTS, LandingZoneResource
from pipelines.assets.warehouse import FULL_REFRESH_RUN_CONFIG
from shopflow import landing

#: The sensor looks at most this often; runs never overlap (dagster.yaml: one run at a time).
SENSOR_INTERVAL_S = 120

ALL_ASSETS_JOB = dg.define_asset_job(
    "all_assets", selection=dg.AssetSelection.all(), description="Every asset, once."
)

daily_all_assets = dg.ScheduleDefinition(
    name="daily_all_assets",
    job=ALL_ASSETS_JOB,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    description="Rebuild everything at 03:00 UTC, the incremental marts from scratch.",
    run_config=FULL_REFRESH_RUN_CONFIG,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


def partitions_fingerprint(partitions: list[str] | tuple[str, ...]) -> str:
    """A short stable hash of the set of landing partitions (the sensor's cursor)."""
    digest = hashlib.sha256("\n".join(sorted(partitions)).encode())
    return digest.hexdigest()[:32]


def loaded_since_last_landing(
    context: dg.SensorEvaluationContext, landing_zone: LandingZoneResource
) -> bool:
    """True when the instance's latest raw_events materialization is newer than every
    finished landing file (nothing landed since the last load)."""
    record = context.instance.get_latest_materialization_event(RAW_EVENTS)
    if record is None:
        return False
    files = landing_zone.root().rglob("*.parquet")
    newest = max((f.stat().st_mtime for f in files if not f.name.startswith(".")), default=0.0)
    return record.timestamp >= newest


@dg.sensor(
    name="new_landing_partitions",
    job=ALL_ASSETS_JOB,
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    description="Runs every asset when the set of landing partitions changes.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def new_landing_partitions(
    context: dg.SensorEvaluationContext, landing_zone: LandingZoneResource
) -> dg.SensorResult | dg.SkipReason:
    parts = list(landing.partitions(landing_zone.settings()))
    if not parts:
        return dg.SkipReason("the landing zone is empty")
    fingerprint = partitions_fingerprint(parts)
    if fingerprint == context.cursor:
        return dg.SkipReason(f"no new landing partitions ({len(parts)} known)")
    if context.cursor is None and loaded_since_last_landing(context, landing_zone):
        # e.g. `shopflow materialize` ran before `dagster dev` started: no second full run
        return dg.SensorResult(
            skip_reason=f"raw_events is newer than every landing file ({len(parts)} partitions)",
            cursor=fingerprint,
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=fingerprint, tags={"landing_partitions": str(len(parts))})
        ],
        cursor=fingerprint,
    )


SCHEDULES = [daily_all_assets]
SENSORS = [new_landing_partitions]
JOBS = [ALL_ASSETS_JOB]
