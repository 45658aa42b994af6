"""The GrowthBook SDK, loaded with Shopflow's payload, agrees with Shopflow's own server-side
evaluation on every feature for 10,000 users with assorted attributes."""

from __future__ import annotations

import random
from pathlib import Path

from growthbook import GrowthBook

from shopflow.config import PACKAGE_ROOT
from shopflow.experiments import load_experiments
from shopflow.experiments.config import parse_experiments
from shopflow.experiments.evaluate import Evaluator, payload

RICH = """
features:
  - key: beta
    type: boolean
    default: false
    rules:
      - condition: {$and: [{plan: {$in: [pro, team]}}, {$not: {country: GB}}]}
        force: true
      - condition: {age: {$gte: 30, $lt: 50}, tags: {$elemMatch: {$eq: vip}}}
        force: true
        coverage: 0.5
        hash_attribute: company_id
  - key: theme
    type: string
    default: light
    rules:
      - condition: {app_version: {$vlt: "1.10.0"}}
        force: legacy
      - condition: {signup_date: {$gt: "2026-06-01"}, email: {$regex: "\\\\.(de|at)$"}}
        force: dark
      - key: theme-test
        variations: [light, dark, contrast]
        weights: [0.2, 0.3, 0.5]
        coverage: 0.7
        seed: theme-seed
  - key: limit
    type: number
    default: 10
    rules:
      - condition: {$or: [{country: {$nin: [US, CA]}}, {beta_user: {$exists: true}}]}
        key: limit-test
        variations: [10, 20]
        namespace: {id: ns, range: [0.1, 0.6]}
      - key: limit-test-2
        variations: [10, 30]
        hash_attribute: company_id
        namespace: {id: ns, range: [0.6, 0.9]}
  - key: layout
    type: json
    default: {cols: 3}
    rules:
      - condition: {score: {$gt: 0.5}, plan: {$ne: free}}
        force: {cols: 4}
      - key: layout-test
        variations: [{cols: 3}, {cols: 5}]
        weights: [0.5, 0.5]
        coverage: 0.5
experiments:
  - key: recs-exp
    status: running
    variants:
      - {key: control, weight: 0.5, strategy: champion}
      - {key: als, weight: 0.5, strategy: als}
"""


def _users(n: int) -> list[dict[str, object]]:
    rng = random.Random(18)
    out = []
    for i in range(n):
        user: dict[str, object] = {"id": f"u{i}" if rng.random() < 0.97 else ""}
        if rng.random() < 0.9:
            user["country"] = rng.choice(["US", "CA", "DE", "AT", "CH", "GB", "FR"])
        if rng.random() < 0.8:
            user["plan"] = rng.choice(["free", "pro", "team"])
        if rng.random() < 0.8:
            user["app_version"] = f"{rng.randint(0, 2)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}"
        if rng.random() < 0.7:
            user["signup_date"] = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if rng.random() < 0.7:
            user["age"] = rng.randint(16, 80)
        if rng.random() < 0.6:
            user["company_id"] = rng.choice([rng.randint(1, 500), str(rng.randint(1, 500)), 0])
        if rng.random() < 0.5:
            user["tags"] = rng.sample(["vip", "new", "returning", "b2b"], rng.randint(0, 3))
        if rng.random() < 0.5:
            user["score"] = rng.random()
        if rng.random() < 0.3:
            user["beta_user"] = True
        if rng.random() < 0.6:
            domain = rng.choice(["shopflow.example", "mail.de", "mail.at", "mail.com"])
            user["email"] = f"user{i}@{domain}"
        if rng.random() < 0.2:
            user["unknown_attribute"] = {"nested": [1, 2]}
        out.append(user)
    return out


def _agree(config_text: str | None, path: Path | None = None) -> int:
    config = load_experiments(path) if path else parse_experiments(config_text or "")
    evaluator, features = Evaluator(config), payload(config)["features"]
    compared = 0
    for attributes in _users(10_000):
        gb = GrowthBook(attributes=attributes, features=features)
        ours = evaluator.evaluate_all(attributes)
        for key, mine in ours.items():
            theirs = gb.eval_feature(key)
            assert theirs.value == mine.value, (key, attributes, theirs.value, mine.value)
            assert theirs.source == mine.source, (key, attributes, theirs.source, mine.source)
            if mine.experiment is not None:
                assert theirs.experimentResult is not None
                assert theirs.experimentResult.variationId == mine.experiment.variation_id
                assert theirs.experimentResult.key == mine.experiment.variation_key
            compared += 1
        gb.destroy()
    return compared


def test_sdk_agrees_on_rich_rules_for_10000_users() -> None:
    assert _agree(RICH) == 10_000 * 5


def test_sdk_agrees_on_the_shipped_experiments_file() -> None:
    assert _agree(None, PACKAGE_ROOT / "experiments.yaml") == 10_000 * 8
