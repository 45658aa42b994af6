"""The OpenAPI document says what the API answers: a schema for every success body, problem
details for errors (not FastAPI's default 422), ``Location`` on 201s, an example on every
request body that the operation itself accepts. Then the answers agree with it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from serving.app import ROUTERS, create_app
from serving.errors import PROBLEM_JSON
from serving.schemas_examples import EXAMPLES
from shopflow import events
from tests.serving.fakes.commerce import auth, place_order, put_product

PROBLEM = {"schema": {"$ref": "#/components/schemas/Problem"}}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return create_app().openapi()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_success_body_has_a_schema(doc) -> None:
    untyped = []
    for method, path, op in operations(doc):
        for code, response in op["responses"].items():
            if code.startswith("2") and code != "204":
                content = response.get("content", {})
                schemas = [media.get("schema") for media in content.values()]
                if not schemas or not all(schemas) or {"type": "object"} in schemas:
                    untyped.append(f"{method.upper()} {path} {code}")
                for schema in schemas:  # not a bare dict[str, Any]
                    if schema and schema.get("additionalProperties") is True:
                        untyped.append(f"{method.upper()} {path} {code}: free-form object")
    assert len(operations(doc)) > 60
    assert untyped == []


def test_errors_are_problem_details_and_default_422_is_gone(doc) -> None:
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert {"type", "title", "status", "detail"} <= set(
        doc["components"]["schemas"]["Problem"]["properties"]
    )
    checked = 0
    for method, path, op in operations(doc):
        if op.get("parameters") or op.get("requestBody"):
            assert op["responses"]["422"]["content"] == {PROBLEM_JSON: PROBLEM}, (method, path)
            checked += 1
        if op.get("security"):
            assert "401" in op["responses"], (method, path)
        for code, response in op["responses"].items():
            if code[0] in "45" and PROBLEM_JSON not in response.get("content", {}):
                assert response.get("content"), f"{method} {path} {code} has no body"
    assert checked > 50
    known = {f"#/components/schemas/{name}" for name in doc["components"]["schemas"]}
    assert set(_refs(doc["paths"])) <= known  # no dangling reference


def test_created_responses_declare_location(doc) -> None:
    created = [(m, p, op["responses"]["201"]) for m, p, op in operations(doc)
               if "201" in op["responses"]]  # fmt: skip
    assert len(created) >= 8
    for method, path, response in created:
        assert "Location" in response.get("headers", {}), (method, path)


def test_every_request_body_has_an_example_the_operation_accepts(doc) -> None:
    bodies = {(m, p) for m, p, op in operations(doc) if "requestBody" in op}
    assert bodies == set(EXAMPLES)
    for method, path, op in operations(doc):
        for media in op.get("requestBody", {}).get("content", {}).values():
            assert "example" in media, (method, path)
    routes = {
        (method.lower(), route.path): route
        for module in ROUTERS
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    for key, example in EXAMPLES.items():
        params = routes[key].dependant.body_params
        if key == ("post", "/events"):  # read by the handler itself: the event contract
            events.parse_event(example)
            continue
        if not params:  # a multipart upload: the handler reads the file
            continue
        try:
            TypeAdapter(params[0].field_info.annotation).validate_python(example)
        except ValidationError as exc:
            pytest.fail(f"{key}: the example is refused: {exc}")


def test_answers_match_the_document(api_client) -> None:
    """A 201 carries Location; a refused body is problem+json with the documented members."""
    admin, user = auth("openapi-admin", "admin"), auth("openapi-user")  # own rate-limit buckets
    example = EXAMPLES[("put", "/api/products/{product_id}")]
    created = api_client.put("/api/products/i000011", json=example, headers=admin)
    assert created.status_code == 201 and created.headers["Location"] == "/api/products/i000011"
    again = api_client.put("/api/products/i000011", json=example, headers=admin)
    assert again.status_code == 200 and "Location" not in again.headers
    order = api_client.post("/api/orders", json=EXAMPLES[("post", "/api/orders")], headers=user)
    assert order.status_code == 201, order.text
    assert order.headers["Location"] == f"/api/orders/{order.json()['id']}"
    assert api_client.get(order.headers["Location"], headers=user).status_code == 200
    wishlist = api_client.post("/api/wishlists", json={"name": "A"}, headers=user)
    assert wishlist.headers["Location"] == f"/api/wishlists/{wishlist.json()['id']}"

    refused = api_client.post("/api/orders", json={"lines": []}, headers=user)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert {"type", "title", "status", "detail", "errors"} <= set(refused.json())


def test_typed_bodies_keep_every_field(api_client) -> None:
    """Response models drop nothing the domain answers (orders, products)."""
    product = put_product(api_client, "p1", price=1250, stock=5)
    fields = {"id", "title", "description", "category", "brand", "price_minor", "currency",
              "stock", "attributes", "created_at", "updated_at"}  # fmt: skip
    assert set(product) == fields
    order = place_order(api_client, "bob", [("p1", 1)])
    assert order["lines"] == [{"product_id": "p1", "quantity": 1, "unit_price_minor": 1250}]
    assert order["created_at"].endswith("+00:00")  # the domain's timestamp, not re-rendered
