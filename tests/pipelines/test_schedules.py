"""The daily schedule and the new-landing-partitions sensor."""

from __future__ import annotations

import dagster as dg

from pipelines import schedules
from pipelines.assets.landing import RAW_EVENTS, LandingZoneResource
from pipelines.event_log import NoSyncSqliteEventLogStorage
from pipelines.instance import prepare_dagster_home
from shopflow import landing
from shopflow.config import Settings
from tests.pipelines.shop_data import DAY2, ev


def evaluate(settings: Settings, cursor: str | None, instance: dg.DagsterInstance | None = None):
    context = dg.build_sensor_context(
        cursor=cursor,
        resources={"landing_zone": LandingZoneResource(home=str(settings.home))},
        instance=instance or dg.DagsterInstance.ephemeral(),
    )
    return schedules.new_landing_partitions(context)


def test_daily_schedule_runs_every_asset_at_3_utc():
    schedule = schedules.daily_all_assets
    assert schedule.cron_schedule == "0 3 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == "all_assets"
    assert schedules.ALL_ASSETS_JOB.selection == dg.AssetSelection.all()
    # the nightly run rebuilds the incremental marts from scratch (late events included)
    (request,) = schedule.evaluate_tick(dg.build_schedule_context()).run_requests
    assert request.run_config == {"ops": {"warehouse_dbt": {"config": {"full_refresh": True}}}}


def test_sensor_skips_an_empty_landing_zone(tmp_path):
    settings = Settings(home=tmp_path)
    result = evaluate(settings, None)
    assert isinstance(result, dg.SkipReason)


def test_sensor_fires_once_per_new_partition(tmp_path):
    settings = Settings(home=tmp_path)
    landing.write_events([ev("product_view", DAY2, "u1", item_id="i1")], settings)

    first = evaluate(settings, None)
    assert isinstance(first, dg.SensorResult)
    assert len(first.run_requests) == 1
    assert first.run_requests[0].job_name in (None, "all_assets")

    again = evaluate(settings, first.cursor)  # nothing new: no second run
    assert isinstance(again, dg.SkipReason)

    # more files in a known partition are picked up by the daily run, not the sensor
    landing.write_events([ev("product_view", DAY2, "u2", item_id="i1")], settings)
    assert isinstance(evaluate(settings, first.cursor), dg.SkipReason)

    landing.write_events([ev("search", DAY2, "u1", query="shoes", results_count=3)], settings)
    second = evaluate(settings, first.cursor)
    assert isinstance(second, dg.SensorResult)
    assert second.cursor != first.cursor
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_sensor_does_not_rerun_what_a_materialize_already_loaded(tmp_path):
    settings = Settings(home=tmp_path)
    landing.write_events([ev("product_view", DAY2, "u1", item_id="i1")], settings)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(RAW_EVENTS))
        first = evaluate(settings, None, instance)  # e.g. dagster dev after shopflow materialize
        assert isinstance(first, dg.SensorResult)
        assert not first.run_requests and first.skip_reason
        assert first.cursor

        landing.write_events([ev("search", DAY2, "u1", query="shoes", results_count=3)], settings)
        assert len(evaluate(settings, first.cursor, instance).run_requests) == 1


def test_schedule_and_sensor_start_running_and_runs_queue_one_at_a_time(tmp_path, monkeypatch):
    assert schedules.daily_all_assets.default_status == dg.DefaultScheduleStatus.RUNNING
    sensor = schedules.new_landing_partitions
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 120

    home = prepare_dagster_home(Settings(home=tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == 1
        assert isinstance(instance.event_log_storage, NoSyncSqliteEventLogStorage)
