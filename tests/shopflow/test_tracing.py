"""Traces leave over OTLP/HTTP: ``shopflow serve`` and ``shopflow stream features`` as real
processes export to a local OTLP receiver (protobuf decoded here), with spans for FastAPI,
SQLAlchemy, Redis, the Kafka producer and the consumer batch linked to the producing trace."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from shopflow import events
from shopflow.config import Settings
from shopflow.embedded import free_port
from tests.otlp_receiver import otlp_receiver
from tests.serve_process import serving, stop, wait_healthy
from tests.serving.test_recommendations import auth, publish

pytestmark = pytest.mark.integration
SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP SpanKind numbers


def test_spans_of_the_api_and_a_consumer_reach_an_otlp_collector(
    shopflow_home: Settings,
    kafka_broker: str,
    redis_server: str,
    redis_client,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    publish(redis_client)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with otlp_receiver() as (endpoint, receiver):
        env = {
            "REDIS_URL": redis_server,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_broker,
            "SHOPFLOW_KAFKA_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}.",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_SERVICE_NAME": "shopflow-test",
            "SHOPFLOW_TRACE_SAMPLE_RATIO": "1.0",
            "SHOPFLOW_LOG_FORMAT": "json",
        }
        with serving(shopflow_home, "--port", str(port), env=env) as api:
            wait_healthy(api, f"{base}/livez")
            headers = auth("storefront", "service")
            assert httpx.get(f"{base}/recommendations/u1", headers=headers).status_code == 200
            assert httpx.get(f"{base}/api/products").status_code == 200
            event = events.make_event("product_view", {"item_id": "i1"}, user_id="u1")
            posted = httpx.post(
                f"{base}/events", json=event.model_dump(mode="json"), headers=headers, timeout=30
            )
            assert posted.status_code == 202, posted.text
            stop(api)
        consumer = subprocess.run(
            [sys.executable, "-m", "cli.main", "stream", "features", "--max-seconds", "15"],
            env={**_environ(), **env, "SHOPFLOW_HOME": str(shopflow_home.home_dir)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert consumer.returncode == 0, consumer.stderr
        deadline = time.monotonic() + 10
        while not any(s.kind == CONSUMER for s in receiver.spans) and time.monotonic() < deadline:
            time.sleep(0.1)
    spans = receiver.spans
    assert spans, "no span reached the receiver"
    assert {s.resource["service.name"] for s in spans} == {"shopflow-test"}
    servers = {s.attributes.get("http.route") for s in spans if s.kind == SERVER}
    assert {"/recommendations/{user_id}", "/api/products", "/events"} <= servers
    assert any(s.attributes.get("db.system") == "redis" for s in spans)  # Redis client spans
    assert any(s.attributes.get("db.system") in ("sqlite", "postgresql") for s in spans)
    routes = {s.attributes.get("http.route"): s for s in spans if s.kind == SERVER}
    post = routes["/events"]
    # the send belongs to the request's trace (exposures are published on their own)
    assert any(s.kind == PRODUCER and s.trace_id == post.trace_id for s in spans)
    batches = [s for s in spans if s.kind == CONSUMER]
    assert batches and batches[0].attributes["messaging.consumer.group.name"].endswith("features")
    assert post.trace_id in {link for s in batches for link in s.links}


def _environ() -> dict[str, str]:
    return dict(os.environ)


def test_sampling_is_drawn_per_request_and_a_callers_decision_holds(
    shopflow_home: Settings, redis_server: str, redis_client
) -> None:
    """At a 25 % ratio about a quarter of the requests are traced, each with its Redis spans;
    an untraced request leaves no span at all; a caller's ``traceparent`` decides for its
    request either way."""
    publish(redis_client)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    headers = auth("storefront", "service")
    sampled = [uuid.uuid4().hex for _ in range(5)]
    dropped = [uuid.uuid4().hex for _ in range(5)]
    with otlp_receiver() as (endpoint, receiver):
        env = {"REDIS_URL": redis_server, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
               "SHOPFLOW_TRACE_SAMPLE_RATIO": "0.25"}  # fmt: skip
        with serving(shopflow_home, "--port", str(port), env=env) as api, httpx.Client() as http:
            wait_healthy(api, f"{base}/livez")
            for _ in range(200):
                assert http.get(f"{base}/recommendations/u1", headers=headers).status_code == 200
            for trace_id, flags in [*((t, "01") for t in sampled), *((t, "00") for t in dropped)]:
                parent = {"traceparent": f"00-{trace_id}-{'ab' * 8}-{flags}"}
                got = http.get(f"{base}/recommendations/u1", headers=headers | parent)
                assert got.status_code == 200
            stop(api)
    spans = receiver.spans
    servers = [s for s in spans if s.kind == SERVER]
    drawn = [s for s in servers if s.trace_id not in sampled]
    print(f"\n{len(drawn)} of 200 requests traced at a 25 % ratio")
    assert 20 <= len(drawn) <= 80  # binomial(200, 0.25): 50 ± 6
    assert {s.trace_id for s in servers} - {s.trace_id for s in drawn} == set(sampled)
    assert all(s.parent_id == "ab" * 8 for s in servers if s.trace_id in sampled)
    assert not {s.trace_id for s in spans} & set(dropped)
    traced = {s.trace_id for s in servers}
    redis_spans = [s for s in spans if s.attributes.get("db.system") == "redis"]
    assert {s.trace_id for s in redis_spans} >= traced  # each traced request has its reads
    in_requests = [s for s in redis_spans if s.trace_id in traced]
    print(f"{len(redis_spans) - len(in_requests)} Redis spans outside a request trace")
    # start-up and background reads only: the untraced requests' reads (three times as many
    # requests) would outnumber the traced ones' if they were sampled on their own
    assert len(redis_spans) - len(in_requests) < len(in_requests) / 4
