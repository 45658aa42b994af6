"""Property-based run over every operation of the OpenAPI document (schemathesis): generated
bodies, parameters and ids, with an admin and a customer token, against the whole app on
embedded Redis and the broker. The one assertion: no response is a server error.

The stateless phase tries each operation on its own (the coverage phase's boundary values,
then random valid and invalid inputs); the stateful phase follows the OpenAPI
links declared in ``serving.docs.LINKS`` (order created -> get, cancel, pay it; review created
-> vote, moderate; wishlist created -> items, share...). ``SCHEMATHESIS_EXAMPLES`` scales the
run (default keeps it to a few minutes on two cores)."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode

from shopflow import embedded
from shopflow.config import Settings, get_settings
from shopflow.online_store import keys
from tests.serving.fakes.commerce import ADMIN, auth, place_order, put_product

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "40"))
BASE_URL = "http://testserver"
PRODUCT = "p1"
MAX_SESSIONS = 5
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
    put_product(api_client, PRODUCT, price=1250, stock=10_000)
    place_order(api_client, "alice", [(PRODUCT, 1)])
    _publish_recommendations(embedded.ensure_redis(get_settings()))
    yield api_client


def _send(client: Any, case: Any, headers: dict[str, str]) -> Response:
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    data = kwargs.get("data")
    if isinstance(data, bytes | str):
        kwargs["content"] = kwargs.pop("data")
    call = {k: v for k, v in kwargs.items() if k in (*HTTPX_KWARGS, "content")}
    return Response.from_any(client.request(**call))


def _use_seeded_product(case: Any) -> None:
    if "product_id" in (case.path_parameters or {}):
        case.path_parameters["product_id"] = PRODUCT
    lines = case.body.get("lines") if isinstance(case.body, dict) else None
    for line in lines if isinstance(lines, list) else ():
        if isinstance(line, dict):
            line["product_id"] = PRODUCT


def _check(case: Any, response: Response) -> None:
    case.validate_response(response, checks=[not_a_server_error])


TOKENS = (auth(ADMIN, "admin"), auth("alice"))


def _coverage_cases(schema: Any, operation: Any) -> Iterator[Any]:
    """Schemathesis's coverage phase: each parameter at its bounds and just past them
    (``offset`` at 2**63-1 and 2**63), wrong types, missing and duplicated values."""
    config = schema.config.generation_for(operation=operation)
    yield from schema.iter_coverage_cases(
        operation, generation_modes=list(MODES), generation_config=config
    )


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_no_operation_answers_a_server_error(app_client: Any) -> None:
    schema = schemathesis.openapi.from_dict(app_client.app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50

    failures: dict[str, str] = {}
    for operation in operations:

        @given(case=st.one_of(*(operation.as_strategy(mode) for mode in MODES)))
        @_settings()
        def fuzz(case: Any) -> None:
            for headers in TOKENS:
                _check(case, _send(app_client, case, headers))

        try:
            for case in _coverage_cases(schema, operation):
                for headers in TOKENS:
                    _check(case, _send(app_client, case, headers))
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # report every failing operation
            failures[operation.label] = str(exc)
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_linked_operations_answer_no_server_error(app_client: Any) -> None:
    schema = schemathesis.openapi.from_dict(app_client.app.openapi())
    base = schema.as_state_machine()

    seen: set[tuple[str, int]] = set()
    failures: list[str] = []

    class Stateful(base):  # type: ignore[valid-type,misc]
        def before_call(self, case: Any) -> None:
            """Point generated product ids at the seeded product half the time, so chains
            (order placed -> paid -> refunded, product -> review -> vote) get past a 404."""
            if random.random() < 0.5:
                _use_seeded_product(case)

        def call(self, case: Any, **kwargs: Any) -> Response:
            try:
                response = _send(app_client, case, TOKENS[0])
            except Exception as exc:  # the app raised: a 500 (the TestClient re-raises it)
                failures.append(f"{case.operation.label}: {exc!r}\n{case.as_curl_command()}")
                raise
            seen.add((case.operation.label, response.status_code))
            return response

        def validate_response(self, response: Response, case: Any, **kwargs: Any) -> None:
            try:
                _check(case, response)
            except (Exception, BaseExceptionGroup) as exc:  # collected, not raised: see below
                failures.append(f"{case.operation.label}: {exc}")

    # The server's state changes between scenarios, so hypothesis may find that a replayed
    # prefix draws differently (FlakyStrategyDefinition): like schemathesis's own engine, go
    # on in a fresh session. Failures are collected, not raised, so none is lost to that.
    sessions = 0
    while sessions < MAX_SESSIONS:
        sessions += 1
        try:
            _run_state_machine(Stateful)
            break
        except FlakyStrategyDefinition:
            continue
        except Exception:
            if not failures:
                raise
            break
    print(f"{sessions} session(s); reached:", sorted(seen))
    assert not failures, "\n\n".join(failures)


def _run_state_machine(machine: Any) -> None:
    machine.run(
        settings=hypothesis.settings(
            max_examples=EXAMPLES,
            stateful_step_count=8,
            phases=[Phase.generate],
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
