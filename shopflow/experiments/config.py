"""The experiments file (``experiments.yaml``) and its validation.

Each experiment splits users across variants by weight; each variant names the recommender
strategy it serves (the strategy names the batch publisher writes under
``shopflow.online_store.keys.user_recs(version, user_id, strategy)``; ``popularity`` is served from
``shopflow.online_store.keys.popular``). The first variant is the control.
"""

from __future__ import annotations

import contextlib
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shopflow.experiments.features import Feature, check_namespaces
from shopflow.experiments.metrics import Metric
from shopflow.model_kinds import Strategy

WEIGHT_TOLERANCE = 1e-6

Key = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class Status(StrEnum):
    draft = "draft"
    running = "running"
    stopped = "stopped"


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Key
    weight: Annotated[float, Field(ge=0, le=1)]
    strategy: Strategy
    description: str = ""


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Key
    name: str = ""
    description: str = ""
    seed: str = Field(default="", description="Hash seed; the key when empty (as GrowthBook).")
    status: Status = Status.draft
    coverage: Annotated[float, Field(ge=0, le=1)] = 1.0
    variants: Annotated[list[Variant], Field(min_length=2)]

    @model_validator(mode="after")
    def _check(self) -> Experiment:
        total = math.fsum(v.weight for v in self.variants)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise ValueError(f"variant weights must sum to 1, got {total:g}")
        seen: set[str] = set()
        for variant in self.variants:
            if variant.key in seen:
                raise ValueError(f"duplicate variant key {variant.key!r}")
            seen.add(variant.key)
        return self

    @property
    def hash_seed(self) -> str:
        return self.seed or self.key

    @property
    def control(self) -> Variant:
        return self.variants[0]

    @property
    def weights(self) -> list[float]:
        return [v.weight for v in self.variants]

    def variant(self, key: str) -> Variant:
        for variant in self.variants:
            if variant.key == key:
                return variant
        raise KeyError(f"experiment {self.key!r} has no variant {key!r}")


class ExperimentsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    experiments: list[Experiment] = Field(default_factory=list)
    features: list[Feature] = Field(default_factory=list)
    metrics: list[Metric] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> ExperimentsConfig:
        for what, keys in (
            ("experiment", [e.key for e in self.experiments]),
            ("feature", [f.key for f in self.features] + [e.key for e in self.experiments]),
            ("metric", [m.key for m in self.metrics]),
        ):
            seen: set[str] = set()
            for key in keys:
                if key in seen:
                    raise ValueError(f"duplicate {what} key {key!r}")
                seen.add(key)
        problems = check_namespaces(self.features)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def running(self) -> list[Experiment]:
        return [e for e in self.experiments if e.status == Status.running]

    def get(self, key: str) -> Experiment:
        for experiment in self.experiments:
            if experiment.key == key:
                return experiment
        raise KeyError(f"no experiment {key!r}")


class ExperimentsFileError(ValueError):
    """The experiments file is missing, not YAML, or breaks the model. ``errors`` lists why."""

    def __init__(self, path: Path, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        super().__init__(f"{path}: " + "; ".join(errors))


def _format(exc: ValidationError, data: dict[str, Any]) -> list[str]:
    """One line per error, naming the feature / experiment / metric by key, not by index."""
    out = []
    for err in exc.errors():
        loc = list(err["loc"])
        if len(loc) >= 2 and isinstance(loc[1], int):
            with contextlib.suppress(KeyError, IndexError, TypeError):
                loc[1] = data[str(loc[0])][loc[1]]["key"]
        where = ".".join(str(p) for p in loc if p not in ("force", "experiment")) or "(file)"
        message = err["msg"].removeprefix("Value error, ")
        out.append(f"{where}: {message}")
    return out


def parse_experiments(text: str, path: Path = Path("<string>")) -> ExperimentsConfig:
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ExperimentsFileError(path, [f"not valid YAML: {exc}"]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ExperimentsFileError(path, ["top level must be a mapping with 'experiments'"])
    try:
        return ExperimentsConfig.model_validate(data)
    except ValidationError as exc:
        raise ExperimentsFileError(path, _format(exc, data)) from exc


def load_experiments(path: Path | str | None = None) -> ExperimentsConfig:
    """Read and validate the experiments file (default: ``Settings.experiments_file``)."""
    if path is None:
        from shopflow.config import get_settings

        path = get_settings().experiments_file
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExperimentsFileError(path, [f"cannot read: {exc.strerror or exc}"]) from exc
    return parse_experiments(text, path)
