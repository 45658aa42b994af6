"""Authorization matrix over every route of the app, generated from its route table: each route
is classified once in ``ACCESS`` (a new, unclassified route fails the test), then every route is
called with each bad credential: none, an expired token, a token signed with another key,
``alg: none``, a revoked API key, a publishable key where it may not go, a customer on admin and
service routes, and user A on user B's resources. Expected: 401/403/404 as the case says, never
2xx, never 500. Real app, real Redis, a real (SQLite) database."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route
from starlette.websockets import WebSocketDisconnect

from commerce import api_keys
from serving.app import ROUTERS, create_app
from shopflow.config import Settings, get_settings
from tests.serving.fakes.commerce import ADMIN, auth, place_order, put_product

PUBLIC = "public"  # no credential needed (a webhook checks its own signature)
VISITOR = "publishable-allowed"  # any credential, a publishable key too; owner-checked
USER = "user-owned"  # a user's token (or admin / secret key); no publishable key
ADMIN_ONLY = "admin"  # an admin token
SERVICE = "service"  # an admin token or a secret key

# (method, path) -> (class, the path or query parameter naming an owner's resource, if any)
ACCESS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("GET", "/openapi.json"): (PUBLIC, None),
    ("GET", "/docs"): (PUBLIC, None),
    ("GET", "/docs/oauth2-redirect"): (PUBLIC, None),
    ("GET", "/docs-static"): (PUBLIC, None),
    ("GET", "/health"): (PUBLIC, None),
    ("GET", "/livez"): (PUBLIC, None),  # probes: an orchestrator calls them without a credential
    ("GET", "/readyz"): (PUBLIC, None),
    ("GET", "/experiments"): (PUBLIC, None),
    ("GET", "/api/features/{client_key}"): (PUBLIC, None),  # the client key is the credential
    ("POST", "/api/features/evaluate"): (USER, None),  # a user for their own id; services all
    ("GET", "/api/products"): (PUBLIC, None),
    ("GET", "/api/products/{product_id}"): (PUBLIC, None),
    ("PUT", "/api/products/{product_id}"): (ADMIN_ONLY, None),
    ("GET", "/api/compare"): (PUBLIC, None),
    ("GET", "/api/compare/list"): (USER, None),
    ("PUT", "/api/compare/list/{product_id}"): (USER, None),
    ("DELETE", "/api/compare/list/{product_id}"): (USER, None),
    ("POST", "/events"): (VISITOR, "user_id"),
    ("GET", "/recommendations/{user_id}"): (VISITOR, "user_id"),
    ("GET", "/items/{item_id}/similar"): (PUBLIC, None),
    ("GET", "/users/{user_id}/recommendations/explain"): (USER, "user_id"),
    ("GET", "/analytics/realtime"): (SERVICE, None),
    ("GET", "/metrics"): (SERVICE, None),
    ("POST", "/api/notifications/trigger"): (ADMIN_ONLY, None),
    ("GET", "/api/notifications"): (USER, "user_id"),
    ("GET", "/api/notifications/preferences"): (USER, None),
    ("PUT", "/api/notifications/preferences"): (USER, None),
    ("GET", "/api/notifications/templates"): (ADMIN_ONLY, None),
    ("GET", "/api/notifications/templates/{key}/{channel}"): (ADMIN_ONLY, None),
    ("POST", "/api/notifications/templates/{key}/{channel}"): (ADMIN_ONLY, None),
    (
        "POST",
        "/api/notifications/templates/{key}/{channel}/versions/{version}/activate",
    ): (ADMIN_ONLY, None),
    ("DELETE", "/api/notifications/templates/{key}/{channel}/versions/{version}"): (
        ADMIN_ONLY,
        None,
    ),
    ("POST", "/api/notifications/templates/preview"): (ADMIN_ONLY, None),
    ("GET", "/api/notifications/stats"): (ADMIN_ONLY, None),
    ("POST", "/api/notifications/webhooks/twilio"): (PUBLIC, None),
    ("POST", "/api/notifications/webhooks/sendgrid"): (PUBLIC, None),
    ("WEBSOCKET", "/ws/notifications"): (USER, None),
    ("POST", "/api/orders"): (USER, None),
    ("GET", "/api/orders"): (USER, "user_id"),
    ("GET", "/api/orders/{order_id}"): (USER, "order_id"),
    ("POST", "/api/orders/{order_id}/cancel"): (USER, "order_id"),
    ("GET", "/api/payments/health"): (PUBLIC, None),
    ("POST", "/api/payments"): (USER, None),
    ("POST", "/api/payments/{payment_id}/confirm"): (USER, "payment_id"),
    ("POST", "/api/payments/{payment_id}/cancel"): (USER, "payment_id"),
    ("POST", "/api/payments/{payment_id}/refund"): (ADMIN_ONLY, None),
    ("POST", "/api/payments/{payment_id}/capture"): (SERVICE, None),
    # the 3-D Secure page checks its own signed link (like a webhook its signature)
    ("GET", "/api/payments/{payment_id}/authenticate"): (PUBLIC, None),
    ("POST", "/api/payments/{payment_id}/authenticate"): (PUBLIC, None),
    ("GET", "/api/payments/order/{order_id}"): (USER, "order_id"),
    ("GET", "/api/payments/user/{user_id}"): (USER, "user_id"),
    ("GET", "/api/payments/status/{status}"): (ADMIN_ONLY, None),
    ("GET", "/api/payments/{payment_id}/ledger"): (USER, "payment_id"),
    ("GET", "/api/payments/{payment_id}"): (USER, "payment_id"),
    ("POST", "/api/payments/webhooks/stripe"): (PUBLIC, None),
    ("POST", "/api/payments/webhooks/paypal"): (PUBLIC, None),
    ("POST", "/api/products/{product_id}/reviews"): (USER, None),
    ("PATCH", "/api/reviews/{review_id}"): (USER, "review_id"),
    ("DELETE", "/api/reviews/{review_id}"): (USER, "review_id"),
    ("GET", "/api/reviews/{review_id}"): (PUBLIC, None),  # approved ones; the author sees more
    ("GET", "/api/products/{product_id}/reviews"): (PUBLIC, None),
    ("GET", "/api/products/{product_id}/rating"): (PUBLIC, None),
    ("PUT", "/api/reviews/{review_id}/vote"): (USER, None),  # one's own vote on any review
    ("DELETE", "/api/reviews/{review_id}/vote"): (USER, None),
    ("GET", "/api/admin/reviews"): (ADMIN_ONLY, None),
    ("POST", "/api/admin/reviews/{review_id}/approve"): (ADMIN_ONLY, None),
    ("POST", "/api/admin/reviews/{review_id}/reject"): (ADMIN_ONLY, None),
    ("POST", "/api/media"): (USER, None),
    ("GET", "/api/media/{media_id}"): (PUBLIC, None),
    ("GET", "/api/media/{media_id}/thumbnail"): (PUBLIC, None),
    ("POST", "/api/wishlists"): (USER, None),
    ("GET", "/api/wishlists"): (USER, None),
    ("GET", "/api/wishlists/{wishlist_id}"): (USER, "wishlist_id"),
    ("PATCH", "/api/wishlists/{wishlist_id}"): (USER, "wishlist_id"),
    ("DELETE", "/api/wishlists/{wishlist_id}"): (USER, "wishlist_id"),
    ("POST", "/api/wishlists/{wishlist_id}/items"): (USER, "wishlist_id"),
    ("DELETE", "/api/wishlists/{wishlist_id}/items/{product_id}"): (USER, "wishlist_id"),
    ("POST", "/api/wishlists/{wishlist_id}/share"): (USER, "wishlist_id"),
    ("DELETE", "/api/wishlists/{wishlist_id}/share"): (USER, "wishlist_id"),
    ("GET", "/api/shared/wishlists/{token}"): (PUBLIC, None),  # the unguessable token is the key
    ("GET", "/api/users/{user_id}/export"): (USER, "user_id"),
    ("DELETE", "/api/users/{user_id}"): (USER, "user_id"),
    ("GET", "/api/admin/audit"): (ADMIN_ONLY, None),
}

NEEDS_CREDENTIAL = {VISITOR, USER, ADMIN_ONLY, SERVICE}
REQUIRED_QUERY = {"/users/{user_id}/recommendations/explain": {"item_id": "i1"}}
BODIES: dict[tuple[str, str], object] = {  # valid bodies, so no 422 hides a missing check
    ("POST", "/events"): {
        "event_type": "product_view",
        "user_id": "bob",
        "payload": {"item_id": "i1"},
    },
    ("PATCH", "/api/wishlists/{wishlist_id}"): {"name": "mine now"},
    ("POST", "/api/features/evaluate"): {"attributes": {"id": "bob"}},
    ("POST", "/api/wishlists/{wishlist_id}/items"): {"product_id": "p1"},
    ("PATCH", "/api/reviews/{review_id}"): {"rating": 1},
}
ALICE, BOB = "alice", "bob"
SERVED = {200, 503}  # recommendations, or 503 while nothing is published in the shared Redis


def routes() -> list[tuple[str, str]]:
    """Every (method, path) the app serves: the listed routers' and the app's own."""
    found = []
    for module in ROUTERS:
        for route in module.router.routes:
            if isinstance(route, APIWebSocketRoute):
                found.append(("WEBSOCKET", route.path))
            elif isinstance(route, APIRoute):
                found += [(method, route.path) for method in sorted(route.methods)]
    for route in create_app().router.routes:
        if isinstance(route, Route):
            found += [(m, route.path) for m in sorted(route.methods or ()) if m != "HEAD"]
        elif isinstance(route, Mount):
            found.append(("GET", route.path))
    return found


def test_every_route_is_classified() -> None:
    app = create_app()
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    served = set(routes())
    assert documented <= served
    unclassified = sorted(served - ACCESS.keys())
    assert not unclassified, f"classify these routes in ACCESS: {unclassified}"
    assert not ACCESS.keys() - served, f"stale ACCESS entries: {sorted(ACCESS.keys() - served)}"


# ---- credentials ---------------------------------------------------------------------------
def _b64(part: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _claims(user: str, roles: list[str], ttl: timedelta) -> dict[str, object]:
    now = datetime.now(UTC)
    return {"sub": user, "roles": roles, "iat": now, "exp": now + ttl}


def expired_token(settings: Settings) -> str:
    claims = _claims(ADMIN, ["admin"], timedelta(seconds=-60))
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)


def foreign_token() -> str:
    claims = _claims(ADMIN, ["admin"], timedelta(hours=1))
    return jwt.encode(claims, "another-signing-key-of-at-least-32-bytes", algorithm="HS256")


def alg_none_token() -> str:
    exp = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    header, body = {"alg": "none", "typ": "JWT"}, {"sub": ADMIN, "roles": ["admin"], "exp": exp}
    return f"{_b64(header)}.{_b64(body)}."


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


# ---- the world: a real app with user B's resources ------------------------------------------
class World:
    def __init__(self, client: TestClient, samples: dict[str, str], keys: dict[str, str]):
        self.client, self.samples, self.keys = client, samples, keys

    def call(
        self, method: str, path: str, headers: dict[str, str], owner: str | None = None
    ) -> int:
        values = dict(self.samples)
        query = dict(REQUIRED_QUERY.get(path, {}))
        if owner is not None and f"{{{owner}}}" not in path:
            query[owner] = BOB  # a query parameter naming the owner (user_id=bob)
        if method == "WEBSOCKET":
            return self.socket(headers)
        url = path.format(**{name: values[name] for name in _params(path)})
        body = BODIES.get((method, path), {})
        return self.client.request(
            method, url, params=query, json=body, headers=headers
        ).status_code

    def socket(self, headers: dict[str, str]) -> int:
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            with self.client.websocket_connect(f"/ws/notifications?token={token}") as ws:
                ws.receive_json()
        except WebSocketDisconnect as closed:
            return 401 if closed.code == 1008 else 500
        return 200


def _params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


@pytest.fixture
def world(
    shopflow_home: Settings, redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    from commerce.db import migrate, reset_engines

    monkeypatch.setenv("REDIS_URL", redis_server)
    monkeypatch.setenv("SHOPFLOW_RATE_LIMITS_ENABLED", "false")  # hundreds of calls from one IP
    get_settings.cache_clear()
    reset_engines()
    migrate.upgrade()
    api_keys.CACHE.forget()
    _, secret = api_keys.create("secret", "server")
    _, publishable = api_keys.create("publishable", "storefront")
    revoked_info, revoked = api_keys.create("secret", "leaked")
    api_keys.revoke(revoked_info.id)
    with TestClient(create_app()) as client:
        put_product(client, "p1", price=500, stock=10)
        order = place_order(client, BOB, [("p1", 1)])
        wishlist = client.post("/api/wishlists", json={"name": "b"}, headers=auth(BOB)).json()
        review = client.post(
            "/api/products/p1/reviews", json={"rating": 5, "body": "fine"}, headers=auth(BOB)
        ).json()
        assert wishlist.get("id") and review.get("id"), (wishlist, review)
        samples = {
            "product_id": "p1",
            "item_id": "i1",
            "user_id": BOB,
            "order_id": order["id"],
            "wishlist_id": wishlist["id"],
            "review_id": review["id"],
            "payment_id": "pay-bob",
            "media_id": "m-bob",
            "key": "order_placed",
            "channel": "email",
            "version": "1",
            "status": "succeeded",
            "token": "no-such-share-token",
            "client_key": "sdk-production-unknown",
        }
        keys = {"secret": secret, "publishable": publishable, "revoked": revoked}
        yield World(client, samples, keys)
    reset_engines()


def _bad_credentials(world: World) -> dict[str, dict[str, str]]:
    settings = get_settings()
    return {
        "no token": {},
        "expired token": bearer(expired_token(settings)),
        "token signed with another key": bearer(foreign_token()),
        "alg none": bearer(alg_none_token()),
        "revoked key": bearer(world.keys["revoked"]),
        "unknown key": bearer(world.keys["secret"][:-4] + "AAAA"),
    }


def _check(failures: list[str], case: str, route: tuple[str, str], status: int, want: set[int]):
    if status not in want:
        failures.append(f"{case}: {route[0]} {route[1]} -> {status}, want {sorted(want)}")


def test_bad_credentials_get_401_everywhere_a_credential_is_needed(world: World) -> None:
    failures: list[str] = []
    for case, headers in _bad_credentials(world).items():
        for route, (access, _) in ACCESS.items():
            status = world.call(*route, headers)
            if access in NEEDS_CREDENTIAL:
                _check(failures, case, route, status, {401})
            elif status == 500:  # a public route may ignore the credential, never crash on it
                failures.append(f"{case}: {route} -> 500")
    assert not failures, "\n".join(failures)


def test_a_wrong_key_says_nothing_about_what_failed(world: World) -> None:
    details = set()
    for headers in _bad_credentials(world).values():
        if headers:
            answer = world.client.get("/recommendations/anon-1", headers=headers)
            assert answer.status_code == 401
            assert answer.headers["content-type"].startswith("application/problem+json")
            details.add(answer.json()["detail"])
    assert details == {"invalid credentials"}


def test_publishable_key_reaches_only_anonymous_events_and_recommendations(world: World) -> None:
    failures: list[str] = []
    headers = bearer(world.keys["publishable"])
    for route, (access, owner) in ACCESS.items():
        if access in (USER, ADMIN_ONLY, SERVICE):
            want = {401} if route[0] == "WEBSOCKET" else {403}
            _check(failures, "publishable key", route, world.call(*route, headers), want)
        elif access == VISITOR:  # for user B: refused
            _check(failures, "publishable key", route, world.call(*route, headers, owner), {403})
    assert not failures, "\n".join(failures)
    anonymous = {"event_type": "product_view", "session_id": "s1", "payload": {"item_id": "i1"}}
    assert world.client.post("/events", json=anonymous, headers=headers).status_code in (
        202,
        503,  # no broker in this test: accepted by authz, refused by the bus
    )
    visitor = world.client.get("/recommendations/anon-s1", headers=headers)
    assert visitor.status_code in SERVED  # allowed


def test_customer_is_refused_on_admin_and_service_routes(world: World) -> None:
    failures: list[str] = []
    for route, (access, _) in ACCESS.items():
        if access in (ADMIN_ONLY, SERVICE):
            _check(failures, "customer", route, world.call(*route, auth(ALICE)), {403})
    assert not failures, "\n".join(failures)


def test_user_a_never_reaches_user_b(world: World) -> None:
    failures: list[str] = []
    for route, (_, owner) in ACCESS.items():
        if owner is not None:
            status = world.call(*route, auth(ALICE), owner)
            _check(failures, "user A on B", route, status, {403, 404})
    assert not failures, "\n".join(failures)


def test_secret_key_acts_as_a_service(world: World) -> None:
    headers = bearer(world.keys["secret"])
    assert world.client.get("/analytics/realtime", headers=headers).status_code == 200
    assert world.client.get("/metrics", headers=headers).status_code == 200
    assert world.client.get(f"/recommendations/{BOB}", headers=headers).status_code in SERVED
    assert world.client.get("/api/notifications/stats", headers=headers).status_code == 403
    owner = world.client.get(f"/api/orders/{world.samples['order_id']}", headers=auth(BOB))
    assert owner.status_code == 200  # the owner still reaches their own order
