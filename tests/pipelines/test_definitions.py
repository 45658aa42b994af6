"""The code location: discovery, lineage landing -> staging -> marts, dbt tests as checks."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster_dbt import DbtProject

import pipelines.assets as assets_pkg
from pipelines import definitions
from pipelines.assets import warehouse
from pipelines.definitions import defs

MARTS = ("dim_items", "dim_users", "fct_interactions", "fct_payments", "daily_revenue")


def test_location_holds_landing_staging_and_marts():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw_events", "stg_orders", "stg_order_lines", *MARTS} <= keys
    assert graph.get(dg.AssetKey("raw_events")).group_name == "landing"
    assert graph.get(dg.AssetKey("fct_interactions")).group_name == "marts"


def test_every_job_resolves():
    """What the webserver does on load: names of ops, graphs and jobs must not collide."""
    jobs = {job.name for job in defs.get_repository_def().get_all_jobs()}
    assert "privacy_erasure" in jobs


def test_dbt_sources_are_the_raw_events_asset():
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("stg_orders")).parent_keys == {dg.AssetKey("raw_events")}
    interactions = graph.get(dg.AssetKey("fct_interactions")).parent_keys
    assert dg.AssetKey("stg_order_lines") in interactions
    assert dg.AssetKey("raw_events") in interactions  # raw.event_weights


def test_dbt_tests_are_asset_checks():
    checks = {
        (key.asset_key.to_user_string(), key.name)
        for key in defs.resolve_asset_graph().asset_check_keys
    }
    assert ("fct_interactions", "not_null_fct_interactions_user_id") in checks
    assert ("dim_items", "unique_dim_items_item_id") in checks
    assert (
        "fct_payments",
        "accepted_values_fct_payments_status__created__processing__completed__failed__cancelled__refunded__authorized__captured__released__dispute_opened__dispute_closed",
    ) in checks
    # reconciliation: warns when the ledger and a processor disagree
    assert ("mart_payment_differences", "no_rows_mart_payment_differences_") in checks


def test_schedule_sensor_and_job_are_registered():
    assert defs.resolve_schedule_def("daily_all_assets")
    assert defs.resolve_sensor_def("new_landing_partitions")
    assert defs.resolve_job_def("all_assets")


def test_a_broken_asset_module_fails_the_location_loudly(tmp_path, monkeypatch):
    (tmp_path / "zz_broken.py").write_text("import not_a_real_module_xyz\n")
    monkeypatch.setattr(assets_pkg, "__path__", [*assets_pkg.__path__, str(tmp_path)])
    with pytest.raises(ModuleNotFoundError, match="not_a_real_module_xyz"):
        definitions.build_definitions()


def test_an_asset_module_exposing_nothing_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "zz_empty.py").write_text("ASSTES = []\n")
    monkeypatch.setattr(assets_pkg, "__path__", [*assets_pkg.__path__, str(tmp_path)])
    monkeypatch.delitem(__import__("sys").modules, "pipelines.assets.zz_empty", raising=False)
    with pytest.raises(definitions.AssetModuleError, match="zz_empty"):
        definitions.build_definitions()


def test_manifest_is_built_on_a_fresh_clone_and_rebuilt_when_stale(tmp_path):
    clone = tmp_path / "warehouse"
    shutil.copytree(
        warehouse.DBT_PROJECT_DIR, clone, ignore=shutil.ignore_patterns("target", "logs")
    )
    project = DbtProject(project_dir=clone)
    assert warehouse.manifest_is_stale(project)  # a fresh clone has no target/

    manifest = warehouse.ensure_manifest(project)
    assert manifest.exists()
    assert not warehouse.manifest_is_stale(project)

    model = clone / "models" / "marts" / "dim_items.sql"
    later = time.time() + 5
    os.utime(model, (later, later))
    assert warehouse.manifest_is_stale(project)


def test_dbt_project_targets_the_configured_warehouse():
    profiles = Path(warehouse.DBT_PROJECT_DIR, "profiles.yml").read_text()
    assert warehouse.WAREHOUSE_PATH_ENV in profiles


def test_the_recommender_graph_has_an_asset_per_kind_the_evaluation_gate_and_publish():
    from models.kinds import MODEL_KINDS

    graph = defs.resolve_asset_graph()
    kinds = {dg.AssetKey(f"recommender_{kind}") for kind in MODEL_KINDS}
    data = dg.AssetKey("recommender_training_data")  # prepared once, shared by every kind
    evaluation = graph.get(dg.AssetKey("recommender_evaluation"))
    assert evaluation.parent_keys == kinds | {data}
    assert dg.AssetKey("fct_interactions") in graph.get(data).parent_keys
    assert graph.get(dg.AssetKey("recommender_als")).parent_keys == {data}
    hybrid = graph.get(dg.AssetKey("recommender_hybrid")).parent_keys
    assert hybrid == kinds - {dg.AssetKey("recommender_hybrid")} | {data}
    published = graph.get(dg.AssetKey("published_recommendations")).parent_keys
    assert published == {dg.AssetKey("recommender_evaluation")}
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("recommender_evaluation", "champion_gate") in checks
    assert {(f"recommender_{kind}", "trained") for kind in MODEL_KINDS} <= checks
