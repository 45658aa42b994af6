"""The Dagster code location: ``dagster dev -m pipelines.definitions``.

Every module in ``pipelines/assets/`` is imported (an import error fails the location
loudly) and contributes its ``ASSETS`` and optionally ``CHECKS``, ``JOBS``, ``SCHEDULES``,
``SENSORS`` and ``RESOURCES``; the schedules in ``pipelines.schedules`` run them all.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

import dagster as dg

import pipelines.assets as assets_pkg
from pipelines import schedules
from pipelines.resources import MLflowResource, WarehouseResource, default_resources
from shopflow.config import Settings

PARTS = ("ASSETS", "CHECKS", "JOBS", "SCHEDULES", "SENSORS")


class AssetModuleError(RuntimeError):
    """A module in pipelines/assets/ exposes nothing the code location can load."""


def asset_modules() -> list[ModuleType]:
    """Import every public module of pipelines/assets/, in name order; errors propagate."""
    modules = []
    for info in sorted(pkgutil.iter_modules(assets_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{assets_pkg.__name__}.{info.name}")
        if not any(hasattr(module, part) for part in PARTS):
            raise AssetModuleError(
                f"{module.__name__} defines none of {', '.join(PARTS)}; "
                "prefix helper modules with '_'"
            )
        modules.append(module)
    return modules


def build_resources(modules: list[ModuleType], settings: Settings | None = None) -> dict[str, Any]:
    """Default resources plus those the asset modules add; ``settings`` pins the data dir."""
    resources: dict[str, Any] = dict(default_resources())
    for module in modules:
        resources.update(getattr(module, "RESOURCES", {}))
    if settings is not None:
        from pipelines.assets.landing import LandingZoneResource

        resources["warehouse"] = WarehouseResource(path=str(settings.warehouse_path))
        resources["landing_zone"] = LandingZoneResource(home=str(settings.home_dir))
        resources["mlflow"] = MLflowResource(tracking_uri=settings.mlflow_uri)
    return resources


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    modules = asset_modules()
    collected: dict[str, list[Any]] = {part: [] for part in PARTS}
    for module in modules:
        for part in PARTS:
            collected[part].extend(getattr(module, part, []))
    return dg.Definitions(
        assets=collected["ASSETS"],
        asset_checks=collected["CHECKS"],
        jobs=[*schedules.JOBS, *collected["JOBS"]],
        schedules=[*schedules.SCHEDULES, *collected["SCHEDULES"]],
        sensors=[*schedules.SENSORS, *collected["SENSORS"]],
        resources=build_resources(modules, settings),
    )


defs = build_definitions()
