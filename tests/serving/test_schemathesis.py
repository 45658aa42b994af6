"""Property-based run over every operation of the OpenAPI document (schemathesis): generated
bodies, parameters and ids, with an admin and a customer token, against the whole app on
embedded Redis and the broker. The one assertion: no response is a server error.

The stateless phase tries each operation on its own; the stateful phase follows the OpenAPI
links declared in ``serving.docs.LINKS`` (order created -> get, cancel, pay it; review created
-> vote, moderate; wishlist created -> items, share...). ``SCHEMATHESIS_EXAMPLES`` scales the
run (default keeps it to a few minutes on two cores)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode

from shopflow import embedded
from shopflow.config import Settings, get_settings
from shopflow.online_store import keys
from tests.serving.fakes.commerce import ADMIN, auth, place_order, put_product

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "40"))
BASE_URL = "http://testserver"
#: Valid inputs reach the handlers; invalid ones (wrong types, out-of-range numbers, missing
#: fields) probe the validation that must answer 4xx.
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
#: Keyword arguments of a requests-style call that the TestClient (httpx) takes.
HTTPX_KWARGS = ("method", "url", "headers", "params", "cookies", "json", "data", "files")


def _settings(**kw: Any) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        **kw,
    )


@pytest.fixture
def broker_env(shopflow_home: Settings, kafka_broker: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's Tansu broker for ``POST /events`` (set after the home cleared it)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    get_settings.cache_clear()


def _publish_recommendations(redis_url: str) -> None:
    """A minimal publication (popular items and their metadata), as the pipeline writes it."""
    client = redis.Redis.from_url(redis_url)
    client.hset(keys.item_info("p1"), mapping={"title": "P1", "category": "kitchen",
                                               "price_minor": 1250, "currency": "USD",
                                               "stock": 5})  # fmt: skip
    client.set(keys.popular("t1"), json.dumps([["p1", 1.0]]))
    client.hset(keys.publish_meta("t1"), mapping={
        "published_at": "2026-01-01T00:00:00+00:00",
        **{f"{s}.{f}": v for s in (keys.CHAMPION, "als", "popularity")
           for f, v in (("model", "m"), ("version", "1"))},
    })  # fmt: skip
    client.set(keys.PUBLISH_POINTER, "t1")
    client.close()


@pytest.fixture
def app_client(broker_env: None, api_client: Any) -> Iterator[Any]:
    """The whole app with a product, an order and published recommendations, so generated
    ids sometimes hit."""
    put_product(api_client, "p1", price=1250, stock=10_000)
    place_order(api_client, "alice", [("p1", 1)])
    _publish_recommendations(embedded.ensure_redis(get_settings()))
    yield api_client


def _send(client: Any, case: Any, headers: dict[str, str]) -> Response:
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    data = kwargs.get("data")
    if isinstance(data, bytes | str):
        kwargs["content"] = kwargs.pop("data")
    call = {k: v for k, v in kwargs.items() if k in (*HTTPX_KWARGS, "content")}
    return Response.from_any(client.request(**call))


def _check(case: Any, response: Response) -> None:
    case.validate_response(response, checks=[not_a_server_error])


TOKENS = (auth(ADMIN, "admin"), auth("alice"))


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_no_operation_answers_a_server_error(app_client: Any) -> None:
    schema = schemathesis.openapi.from_dict(app_client.app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50

    failures: dict[str, str] = {}
    for operation in operations:

        @given(case=st.one_of(*(operation.as_strategy(mode) for mode in MODES)))
        @_settings()
        def run(case: Any) -> None:
            for headers in TOKENS:
                _check(case, _send(app_client, case, headers))

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # report every failing operation
            failures[operation.label] = str(exc)
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_linked_operations_answer_no_server_error(app_client: Any) -> None:
    schema = schemathesis.openapi.from_dict(app_client.app.openapi())
    base = schema.as_state_machine()

    seen: set[tuple[str, int]] = set()

    class Stateful(base):  # type: ignore[valid-type,misc]
        def call(self, case: Any, **kwargs: Any) -> Response:
            response = _send(app_client, case, TOKENS[0])
            seen.add((case.operation.label, response.status_code))
            return response

        def validate_response(self, response: Response, case: Any, **kwargs: Any) -> None:
            _check(case, response)

    Stateful.run(settings=_settings(stateful_step_count=8))
    print(sorted(seen))
