"""Feature flags in ``experiments.yaml``: a default value and ordered rules (GrowthBook's model).

A rule either forces a value (to users matching a condition, optionally to a percentage of
them by a hash attribute: a gradual rollout) or runs an experiment (variations, weights,
coverage, an optional namespace range that makes experiments mutually exclusive). Running
experiment rules are served; draft and stopped ones are kept in the file but not evaluated.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from shopflow.experiments.conditions import check_condition

WEIGHT_TOLERANCE = 1e-6
Key = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Share = Annotated[float, Field(ge=0, le=1)]


class ValueType(StrEnum):
    boolean = "boolean"
    string = "string"
    number = "number"
    json = "json"


def _fits(value: Any, kind: ValueType) -> bool:
    if kind is ValueType.boolean:
        return isinstance(value, bool)
    if kind is ValueType.string:
        return isinstance(value, str)
    if kind is ValueType.number:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True  # json: any value YAML can hold


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = ""
    condition: dict[str, Any] | None = None
    hash_attribute: str = "id"
    seed: str = ""

    @model_validator(mode="after")
    def _condition(self) -> _Rule:
        if self.condition is not None:
            check_condition(self.condition)
        return self


class ForceRule(_Rule):
    """Serve ``force`` to users matching ``condition``; with ``coverage``, only to that share
    of them (hashed by ``hash_attribute``, seeded by ``seed`` or the feature key)."""

    force: Any
    coverage: Share | None = None


class Namespace(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Key
    range: tuple[Share, Share]

    @model_validator(mode="after")
    def _ordered(self) -> Namespace:
        if self.range[0] >= self.range[1]:
            raise ValueError(f"namespace {self.id!r}: range start must be below its end")
        return self


class Status(StrEnum):
    draft = "draft"
    running = "running"
    stopped = "stopped"


class ExperimentRule(_Rule):
    """An experiment: users (hashed by ``hash_attribute``) split across ``variations`` by
    ``weights`` (equal when omitted); ``coverage`` of them take part. The first is control."""

    key: Key
    name: str = ""
    status: Status = Status.running
    variations: Annotated[list[Any], Field(min_length=2)]
    variation_keys: list[Key] = Field(default_factory=list)
    weights: list[Share] | None = None
    coverage: Share = 1.0
    namespace: Namespace | None = None

    @model_validator(mode="after")
    def _split(self) -> ExperimentRule:
        n = len(self.variations)
        if self.weights is not None:
            if len(self.weights) != n:
                raise ValueError(f"experiment {self.key!r}: {n} variations but weights for "
                                 f"{len(self.weights)}")  # fmt: skip
            total = math.fsum(self.weights)
            if abs(total - 1.0) > WEIGHT_TOLERANCE:
                raise ValueError(f"experiment {self.key!r}: weights must sum to 1, got {total:g}")
        if self.variation_keys and len(self.variation_keys) != n:
            raise ValueError(f"experiment {self.key!r}: variation_keys must name every variation")
        if len(set(self.variation_keys)) != len(self.variation_keys):
            raise ValueError(f"experiment {self.key!r}: duplicate variation key")
        return self

    @property
    def split(self) -> list[float]:
        return (
            list(self.weights)
            if self.weights is not None
            else [1 / len(self.variations)] * len(self.variations)
        )

    @property
    def keys(self) -> list[str]:
        return self.variation_keys or [str(i) for i in range(len(self.variations))]


def _rule_kind(data: Any) -> str:
    if isinstance(data, dict):
        return "force" if "force" in data else "experiment"
    return "force" if isinstance(data, ForceRule) else "experiment"


Rule = Annotated[
    Annotated[ForceRule, Tag("force")] | Annotated[ExperimentRule, Tag("experiment")],
    Discriminator(_rule_kind),
]


class Feature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Key
    type: ValueType
    default: Any
    description: str = ""
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _typed(self) -> Feature:
        values = [("default", self.default)]
        for i, rule in enumerate(self.rules):
            if isinstance(rule, ForceRule):
                values.append((f"rules.{i}.force", rule.force))
            else:
                values += [(f"rules.{i}.variations.{j}", v) for j, v in enumerate(rule.variations)]
        for where, value in values:
            if not _fits(value, self.type):
                raise ValueError(f"{where}: {value!r} is not a {self.type.value}")
        return self

    @property
    def experiments(self) -> list[ExperimentRule]:
        return [r for r in self.rules if isinstance(r, ExperimentRule)]


def check_namespaces(features: list[Feature]) -> list[str]:
    """Overlapping ranges of different experiments in one namespace (they must exclude)."""
    taken: dict[str, list[tuple[float, float, str]]] = {}
    problems = []
    for feature in features:
        for rule in feature.experiments:
            if rule.namespace is None:
                continue
            low, high = rule.namespace.range
            for other_low, other_high, other in taken.get(rule.namespace.id, []):
                if other != rule.key and low < other_high and other_low < high:
                    problems.append(
                        f"features.{feature.key}: experiment {rule.key!r} range [{low:g}, "
                        f"{high:g}) overlaps {other!r} [{other_low:g}, {other_high:g}) in "
                        f"namespace {rule.namespace.id!r}"
                    )
            taken.setdefault(rule.namespace.id, []).append((low, high, rule.key))
    return problems
