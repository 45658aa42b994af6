"""OpenAPI docs served without a CDN: Swagger UI 5's files (it renders the OpenAPI 3.1 that
FastAPI writes) come from the fastapi-offline wheel, so ``/docs`` works with no internet. The
document declares OpenAPI links (``LINKS``): which response id feeds which operation, so
clients and stateful testers (schemathesis) go from an order created to paying it... It
also says what the API really answers: errors as problem details (``serving.schemas.Problem``,
``application/problem+json``) in place of FastAPI's default 422 schema, ``Location`` on every
201, and an example on every request body (``serving.schemas_examples``)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from serving.locations import LOCATION_HEADER
from serving.schemas import Problem, problem_response
from serving.schemas_examples import EXAMPLES

STATIC = "/docs-static"
SWAGGER_UI_DIR = Path(fastapi_offline.__file__).parent / "static"

_ID = "$response.body#/id"
#: (method, path of the producing operation) -> [(method, path of the consumer, parameters)];
#: a parameter named ``body`` is the consumer's request body (a JSON object of expressions).
LINKS: dict[tuple[str, str], list[tuple[str, str, dict[str, Any]]]] = {
    ("put", "/api/products/{product_id}"): [
        ("get", "/api/products/{product_id}", {"product_id": "$request.path.product_id"}),
        ("post", "/api/products/{product_id}/reviews", {"product_id": "$request.path.product_id"}),
        ("put", "/api/compare/list/{product_id}", {"product_id": "$request.path.product_id"}),
    ],
    ("post", "/api/orders"): [
        ("get", "/api/orders/{order_id}", {"order_id": _ID}),
        ("post", "/api/orders/{order_id}/cancel", {"order_id": _ID}),
        ("get", "/api/payments/order/{order_id}", {"order_id": _ID}),
        (
            "post",
            "/api/payments",
            {
                "body": {
                    "order_id": _ID,
                    "amount_minor": "$response.body#/total_minor",
                    "currency": "$response.body#/currency",
                    "method": "CREDIT_CARD",
                    "payment_method": "pm_card_visa",
                }
            },
        ),
    ],
    ("post", "/api/payments"): [
        ("get", "/api/payments/{payment_id}", {"payment_id": _ID}),
        ("post", "/api/payments/{payment_id}/confirm", {"payment_id": _ID}),
        ("post", "/api/payments/{payment_id}/cancel", {"payment_id": _ID}),
        ("post", "/api/payments/{payment_id}/refund", {"payment_id": _ID}),
        ("get", "/api/payments/{payment_id}/ledger", {"payment_id": _ID}),
    ],
    ("post", "/api/products/{product_id}/reviews"): [
        ("get", "/api/reviews/{review_id}", {"review_id": _ID}),
        ("patch", "/api/reviews/{review_id}", {"review_id": _ID}),
        ("put", "/api/reviews/{review_id}/vote", {"review_id": _ID}),
        ("delete", "/api/reviews/{review_id}/vote", {"review_id": _ID}),
        ("post", "/api/admin/reviews/{review_id}/approve", {"review_id": _ID}),
        ("post", "/api/admin/reviews/{review_id}/reject", {"review_id": _ID}),
        ("delete", "/api/reviews/{review_id}", {"review_id": _ID}),
    ],
    ("post", "/api/media"): [
        ("get", "/api/media/{media_id}", {"media_id": _ID}),
        ("get", "/api/media/{media_id}/thumbnail", {"media_id": _ID}),
    ],
    ("post", "/api/wishlists"): [
        ("get", "/api/wishlists/{wishlist_id}", {"wishlist_id": _ID}),
        ("patch", "/api/wishlists/{wishlist_id}", {"wishlist_id": _ID}),
        ("post", "/api/wishlists/{wishlist_id}/items", {"wishlist_id": _ID}),
        ("post", "/api/wishlists/{wishlist_id}/share", {"wishlist_id": _ID}),
        ("delete", "/api/wishlists/{wishlist_id}/share", {"wishlist_id": _ID}),
        ("delete", "/api/wishlists/{wishlist_id}", {"wishlist_id": _ID}),
    ],
    ("post", "/api/notifications/templates/{key}/{channel}"): [
        (
            "post",
            "/api/notifications/templates/{key}/{channel}/versions/{version}/activate",
            {
                "key": "$request.path.key",
                "channel": "$request.path.channel",
                "version": "$response.body#/version",
            },
        ),
    ],
}


def add_links(doc: dict[str, Any]) -> dict[str, Any]:
    """Declare ``LINKS`` on the success response of each producing operation."""
    paths = doc["paths"]
    for (method, path), targets in LINKS.items():
        responses = paths[path][method]["responses"]
        success = next(code for code in responses if code.startswith("2"))
        links = responses[success].setdefault("links", {})
        for target_method, target_path, parameters in targets:
            target = paths[target_path][target_method]
            link: dict[str, Any] = {"operationId": target["operationId"]}
            if "body" in parameters:
                link["requestBody"] = parameters["body"]
            if params := {k: v for k, v in parameters.items() if k != "body"}:
                link["parameters"] = params
            links[target["operationId"]] = link
    return doc


#: FastAPI's default validation-error schemas: the API answers problem details instead.
_DEFAULT_422 = ("HTTPValidationError", "ValidationError")
_INVALID = "Invalid request: the first error in `detail`, every one in `errors`"
_UNAUTHORIZED = "No credential, or an invalid or expired one"


def describe_answers(doc: dict[str, Any]) -> dict[str, Any]:
    """Errors as problem details, ``Location`` on 201s, an example on each JSON body."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in _DEFAULT_422:
        schemas.pop(name, None)
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if operation.get("parameters") or operation.get("requestBody"):
                own = responses.get("422", {}).get("description")  # FastAPI's: a default
                responses["422"] = problem_response(
                    own if own and own != "Validation Error" else _INVALID
                )
            if operation.get("security"):
                responses.setdefault("401", {"description": _UNAUTHORIZED})
            for code, response in responses.items():
                if code[0] in "45" and not response.get("content"):
                    responses[code] = problem_response(response.get("description", ""))
                elif code == "201":
                    response.setdefault("headers", {}).update(LOCATION_HEADER)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                if (method, path) in EXAMPLES:  # JSON or a form: the doc's own copy
                    media["example"] = copy.deepcopy(EXAMPLES[(method, path)])
    return doc


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` from local files (create the app with docs_url=None);
    the OpenAPI document carries ``LINKS`` and ``describe_answers``."""
    build = app.openapi

    def openapi_with_links() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(describe_answers(build()))
        return app.openapi_schema

    app.openapi = openapi_with_links  # type: ignore[method-assign]
    app.mount(STATIC, StaticFiles(directory=SWAGGER_UI_DIR), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC}/favicon.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
