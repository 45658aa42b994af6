"""Feature flags: server-side evaluation of 20 features for one user
(``POST /api/features/evaluate`` on the real app, service token, exposures deduplicated)
against the bare FastAPI endpoint of ``loadgen.baseline_app``, in interleaved rounds (bar:
a throughput ratio of at least ``BAR``); then the GrowthBook SDK payload for 1,000 features:
its size and the time to compile and serialise it, against reading and validating the file.
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from benchmarks.loadgen import (
    BASELINE_APP,
    bearer,
    combine,
    redis_home,
    rounds_header,
    run_load,
)
from benchmarks.loadgen import uvicorn_server as serve
from serving.routers.features import EvaluateIn  # module level: the endpoint's annotation

BAR = 0.5
CONNECTIONS, ROUNDS, ROUND_S, WARMUP_S = 50, 4, 3, 2
PAYLOAD_FEATURES = 1000


def features(n: int) -> list[dict[str, object]]:
    """``n`` features cycling through the rule kinds: forced by condition, gradual rollout,
    experiment, namespaced experiment, JSON value."""
    out: list[dict[str, object]] = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            rules = [{"condition": {"country": {"$in": ["DE", "AT"]}, "plan": {"$ne": "free"}},
                      "force": True}]  # fmt: skip
            out.append({"key": f"flag-{i}", "type": "boolean", "default": False, "rules": rules})
        elif kind == 1:
            rules = [{"condition": {"app_version": {"$vgte": "2.0.0"}}, "force": True,
                      "coverage": 0.3}]  # fmt: skip
            out.append({"key": f"rollout-{i}", "type": "boolean", "default": False, "rules": rules})
        elif kind == 2:
            rules = [{"key": f"exp-{i}", "variations": ["a", "b", "c"],
                      "weights": [0.5, 0.25, 0.25], "coverage": 0.9}]  # fmt: skip
            out.append({"key": f"copy-{i}", "type": "string", "default": "a", "rules": rules})
        elif kind == 3:
            rules = [{"key": f"ns-{i}", "variations": [1, 2], "condition": {"$or": [
                {"signup_date": {"$gt": "2026-01-01"}}, {"email": {"$regex": "@example"}}]},
                "namespace": {"id": f"ns-{i}", "range": [0, 0.5]}}]  # fmt: skip
            out.append({"key": f"limit-{i}", "type": "number", "default": 1, "rules": rules})
        else:
            rules = [{"condition": {"plan": "pro"}, "force": {"rows": 4}}]
            out.append({"key": f"layout-{i}", "type": "json", "default": {"rows": 3},
                        "rules": rules})  # fmt: skip
    return out


def evaluation_app() -> object:
    """The evaluation alone behind FastAPI: the same body model, service call and encoding
    as ``serving.routers.features``, without the API's middleware (auth, rate limits, audit)."""
    import orjson
    from fastapi import FastAPI, Response

    from serving.experiments import ExperimentsService, ExposureLog, evaluate_features
    from shopflow.config import get_settings

    settings = get_settings()
    service, exposures = ExperimentsService(settings), ExposureLog(settings)
    app = FastAPI()

    @app.post("/api/features/evaluate")
    async def evaluate(body: EvaluateIn) -> Response:
        results = await evaluate_features(service, exposures, body.attributes, body.features)
        payload = {"features": {k: r.as_dict() for k, r in results.items()}}
        return Response(orjson.dumps(payload), media_type="application/json")

    return app


def _write(folder: Path, n: int) -> Path:
    path = folder / f"features-{n}.yaml"
    path.write_text(yaml.safe_dump({"features": features(n)}))
    return path


def _rounds(
    targets: list[tuple[str, str, str, bytes | None, dict[str, str] | None]],
) -> list[float]:
    for _, url, method, body, headers in targets:
        run_load(url, [PATHS[method]], WARMUP_S, CONNECTIONS, method=method, body=body,
                 headers=headers)  # fmt: skip
    results: list[list] = [[] for _ in targets]
    for _ in range(ROUNDS):
        for n, (_, url, method, body, headers) in enumerate(targets):
            results[n].append(run_load(url, [PATHS[method]], ROUND_S, CONNECTIONS, method=method,
                                       body=body, headers=headers))  # fmt: skip
    combined = [combine(r) for r in results]
    for (label, *_), result in zip(targets, combined, strict=True):
        print(result.line(label))
    ratios = []
    for n in range(1, len(targets)):
        per_round = sorted(o.rps / b.rps for b, o in zip(results[0], results[n], strict=True))
        if combined[n].errors:
            print(f"WARNING: {combined[n].errors} errors during {targets[n][0]}")
        ratios.append(combined[n].rps / combined[0].rps)
        print(f"ratio {targets[n][0]} / bare: {ratios[-1]:.2f} "
              f"(rounds {per_round[0]:.2f}..{per_round[-1]:.2f})")  # fmt: skip
    return ratios


PATHS = {"GET": "/constant", "POST": "/api/features/evaluate"}


def payload_figures(folder: Path) -> None:
    import orjson

    from shopflow.experiments import load_experiments
    from shopflow.experiments.evaluate import Evaluator, payload

    path = _write(folder, PAYLOAD_FEATURES)
    loads, builds, size, packed = [], [], 0, 0
    for _ in range(5):
        start = time.perf_counter()
        config = load_experiments(path)
        loads.append(time.perf_counter() - start)
        start = time.perf_counter()
        Evaluator(config)
        body = orjson.dumps(payload(config))
        builds.append(time.perf_counter() - start)
        size, packed = len(body), len(gzip.compress(body))
    load_s, build_s = statistics.median(loads), statistics.median(builds)
    print(f"payload for {PAYLOAD_FEATURES} features: {size / 1024:.0f} KiB "
          f"({packed / 1024:.0f} KiB gzipped)")  # fmt: skip
    print(f"compile + serialise {build_s * 1000:.1f} ms; read + validate the file (baseline) "
          f"{load_s * 1000:.1f} ms; ratio {build_s / load_s:.3f}")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        folder = Path(tmp)
        payload_figures(folder)
        config = _write(folder, 20)
        auth = bearer()
        body = json.dumps({"attributes": {"id": "u1", "country": "DE", "plan": "pro",
                                          "app_version": "2.3.1", "email": "a@example.com",
                                          "signup_date": "2026-03-01"}}).encode()  # fmt: skip
        with redis_home("bench-features-", lambda url: None) as env:
            env = env | {"SHOPFLOW_EXPERIMENTS_FILE": str(config)}
            os.environ["SHOPFLOW_EXPERIMENTS_FILE"] = str(config)
            print(rounds_header(CONNECTIONS, ROUNDS, ROUND_S) + f"; bar >= {BAR}x")
            with (
                serve(BASELINE_APP, env, "/constant") as (bare_url, _),
                serve(f"{__name__}:evaluation_app", env, "/docs") as (eval_url, _),
                serve("serving.app:create_app", env, "/health") as (app_url, _),
            ):
                headers = auth | {"Content-Type": "application/json"}
                for url in (eval_url, app_url):
                    check = httpx.post(url + PATHS["POST"], content=body, headers=headers)
                    assert check.status_code == 200, check.text
                    assert len(check.json()["features"]) == 20, check.text
                alone, full = _rounds([
                    ("bare FastAPI endpoint (baseline)", bare_url, "GET", None, None),
                    ("evaluate 20 features, evaluation alone", eval_url, "POST", body, headers),
                    ("evaluate 20 features, the full API", app_url, "POST", body, headers),
                ])  # fmt: skip
        for label, ratio in (("evaluation alone", alone), ("through the full API", full)):
            verdict = "meets" if ratio >= BAR else "below"
            print(f"server-side evaluation {label}: {ratio:.2f}x the bare endpoint, {verdict} "
                  f"the {BAR}x bar")  # fmt: skip


if __name__ == "__main__":
    main()
