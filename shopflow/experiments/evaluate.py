"""Server-side feature evaluation and the GrowthBook SDK payload, from one compiled config.

``Evaluator`` compiles the config once (conditions, seeds, bucket ranges) and evaluates a
feature for a user's attributes exactly as the GrowthBook SDKs evaluate ``payload(config)``:
rules in order; a force rule applies when its condition holds and the user falls in its
rollout; an experiment rule when the condition holds, the hash attribute has a value, the user
is in the namespace range and in the coverage. Conditions are evaluated by the SDK's own
``evalCondition``. Unknown attributes are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from growthbook.core import evalCondition

from shopflow.experiments.assignment import bucket_ranges, choose_variant, fnv1a32
from shopflow.experiments.config import Experiment, ExperimentsConfig, load_experiments
from shopflow.experiments.features import (
    ExperimentRule,
    Feature,
    ForceRule,
    Status,
    ValueType,
)

HASH_VERSION = 2
Attributes = Mapping[str, Any]


def hash_value(value: Any) -> str:
    """An attribute value as the SDKs hash it (JS ``String()``); "" when it cannot identify."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    x = float(value)
    if x == 0 or not math.isfinite(x):
        return ""
    if x.is_integer() and abs(x) < 1e21:
        return str(int(x))
    if 1e-6 <= abs(x) < 1e21:
        return str(np.format_float_positional(x, trim="-"))
    mantissa, _, exponent = repr(x).partition("e")
    return f"{mantissa}e{'+' if int(exponent) > 0 else '-'}{abs(int(exponent))}"


def gb_hash(seed: str, value: str) -> float:
    return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000


def in_namespace(value: str, namespace: tuple[str, float, float]) -> bool:
    n = (fnv1a32(value + "__" + namespace[0]) % 1000) / 1000  # hash version 1, as the SDKs
    return namespace[1] <= n < namespace[2]


@dataclass(frozen=True)
class Assigned:
    """An experiment rule that assigned the user (one exposure)."""

    experiment_key: str
    variation_id: int
    variation_key: str
    hash_attribute: str
    hash_value: str
    bucket: float


@dataclass(frozen=True)
class Evaluation:
    key: str
    value: Any
    source: str  # defaultValue | force | experiment
    rule_id: str = ""
    experiment: Assigned | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "source": self.source}
        if self.rule_id:
            out["rule_id"] = self.rule_id
        if self.experiment is not None:
            e = self.experiment
            out["experiment"] = {
                "key": e.experiment_key,
                "variation_id": e.variation_id,
                "variation": e.variation_key,
                "hash_attribute": e.hash_attribute,
                "bucket": e.bucket,
            }
        return out


RuleFn = Callable[[Attributes], Evaluation | None]


def _condition(condition: dict[str, Any] | None) -> Callable[[Attributes], bool]:
    if not condition:
        return lambda attributes: True
    return lambda attributes: evalCondition(dict(attributes), condition)


def _force(feature: str, rule: ForceRule) -> RuleFn:
    matches, seed, attr = _condition(rule.condition), rule.seed or feature, rule.hash_attribute
    coverage, result = rule.coverage, Evaluation(feature, rule.force, "force", rule.id)

    def run(attributes: Attributes) -> Evaluation | None:
        if not matches(attributes):
            return None
        if coverage is not None:
            value = hash_value(attributes.get(attr))
            if not value or gb_hash(seed, value) >= coverage:
                return None
        return result

    return run


def _experiment(feature: str, rule: ExperimentRule) -> RuleFn:
    matches, seed, attr = _condition(rule.condition), rule.seed or rule.key, rule.hash_attribute
    ranges = bucket_ranges(rule.split, rule.coverage)
    namespace = _namespace(rule)
    keys, variations = rule.keys, rule.variations

    def run(attributes: Attributes) -> Evaluation | None:
        if not matches(attributes):
            return None
        value = hash_value(attributes.get(attr))
        if not value or (namespace and not in_namespace(value, namespace)):
            return None
        n = gb_hash(seed, value)
        index = choose_variant(n, ranges)
        if index < 0:
            return None
        assigned = Assigned(rule.key, index, keys[index], attr, value, n)
        return Evaluation(feature, variations[index], "experiment", rule.id, assigned)

    return run


def _namespace(rule: ExperimentRule) -> tuple[str, float, float] | None:
    if rule.namespace is None:
        return None
    return (rule.namespace.id, *rule.namespace.range)


def _live(feature: Feature) -> list[ForceRule | ExperimentRule]:
    return [r for r in feature.rules if isinstance(r, ForceRule) or r.status is Status.running]


def legacy_feature(experiment: Experiment) -> Feature:
    """A recommendations experiment (``experiments:``) as a feature whose value is the
    strategy: the recommendations path is one user of the feature mechanism."""
    rule = ExperimentRule(
        key=experiment.key,
        name=experiment.name,
        seed=experiment.hash_seed,
        status=Status(experiment.status.value),
        variations=[v.strategy for v in experiment.variants],
        variation_keys=[v.key for v in experiment.variants],
        weights=experiment.weights,
        coverage=experiment.coverage,
    )
    return Feature(key=experiment.key, type=ValueType.json, default=None, rules=[rule])


def all_features(config: ExperimentsConfig) -> list[Feature]:
    return [*config.features, *(legacy_feature(e) for e in config.experiments)]


class Evaluator:
    """The compiled features of one config; cheap to call per request."""

    def __init__(self, config: ExperimentsConfig) -> None:
        self.config = config
        self.features = {f.key: f for f in all_features(config)}
        self._rules: dict[str, tuple[Any, list[RuleFn]]] = {
            f.key: (f.default, [self._compile(f.key, r) for r in _live(f)])
            for f in self.features.values()
        }

    @staticmethod
    def _compile(feature: str, rule: ForceRule | ExperimentRule) -> RuleFn:
        return _force(feature, rule) if isinstance(rule, ForceRule) else _experiment(feature, rule)

    def evaluate(self, key: str, attributes: Attributes) -> Evaluation:
        default, rules = self._rules[key]
        for rule in rules:
            found = rule(attributes)
            if found is not None:
                return found
        return Evaluation(key, default, "defaultValue")

    def evaluate_all(self, attributes: Attributes) -> dict[str, Evaluation]:
        return {key: self.evaluate(key, attributes) for key in self._rules}


def _rule_payload(feature: str, rule: ForceRule | ExperimentRule) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rule.id} if rule.id else {}
    if rule.condition:
        out["condition"] = rule.condition
    out["hashAttribute"] = rule.hash_attribute
    if isinstance(rule, ForceRule):
        out["force"] = rule.force
        if rule.coverage is not None:
            out |= {"coverage": rule.coverage, "seed": rule.seed or feature}
            out["hashVersion"] = HASH_VERSION
        return out
    out |= {
        "key": rule.key,
        "seed": rule.seed or rule.key,
        "hashVersion": HASH_VERSION,
        "variations": rule.variations,
        "weights": rule.split,
        "coverage": rule.coverage,
        "meta": [{"key": k} for k in rule.keys],
        "phase": "0",
    }
    if rule.name:
        out["name"] = rule.name
    namespace = _namespace(rule)
    if namespace:
        out["namespace"] = list(namespace)
    return out


def payload(config: ExperimentsConfig) -> dict[str, Any]:
    """The features in the GrowthBook SDK format (``{"features": {...}}``)."""
    return {
        "features": {
            f.key: {"defaultValue": f.default, "rules": [_rule_payload(f.key, r) for r in _live(f)]}
            for f in all_features(config)
        }
    }


_compiled: dict[Path, tuple[tuple[int, int], Evaluator]] = {}


def current_evaluator(path: Path | None = None) -> Evaluator:
    """The compiled features of the experiments file (default: ``Settings.experiments_file``),
    recompiled when the file changes; raises ``ExperimentsFileError`` when it is invalid."""
    if path is None:
        from shopflow.config import get_settings

        path = get_settings().experiments_file
    try:
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        version = (0, -1)
    cached = _compiled.get(path)
    if cached and cached[0] == version:
        return cached[1]
    evaluator = Evaluator(load_experiments(path))
    _compiled[path] = (version, evaluator)
    return evaluator
