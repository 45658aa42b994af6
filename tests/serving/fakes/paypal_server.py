"""A local PayPal REST server speaking the subset Shopflow uses (OAuth2 client credentials,
Orders v2 create/get/capture, captures refund, verify-webhook-signature). It checks the
requests the way PayPal does and records them for assertions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
import uuid
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from shopflow.embedded import free_port

CLIENT_ID, CLIENT_SECRET = "paypal-client", "paypal-secret"
SIGNING_KEY = b"fake-paypal-signing-key"


def sign(transmission_id: str, transmission_time: str, webhook_id: str, body: bytes) -> str:
    """The transmission signature the fake accepts (PayPal signs these fields with RSA)."""
    crc = hashlib.sha256(body).hexdigest()
    msg = f"{transmission_id}|{transmission_time}|{webhook_id}|{crc}".encode()
    return hmac.new(SIGNING_KEY, msg, hashlib.sha256).hexdigest()


def _error(status: int, name: str, issue: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"name": name, "message": name, "debug_id": uuid.uuid4().hex[:12]}
    if issue:
        body["details"] = [{"issue": issue}]
    return JSONResponse(body, status_code=status)


class FakePayPal:
    def __init__(self) -> None:
        self.tokens: set[str] = set()
        self.orders: dict[str, dict[str, Any]] = {}
        self.by_request_id: dict[str, Any] = {}
        self.requests: list[dict[str, Any]] = []
        self.decline_next_capture = False
        self.app = self._build()

    def _authorized(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.tokens

    def _build(self) -> FastAPI:
        app = FastAPI()
        fake = self

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Any:
            body = await request.body()
            fake.requests.append(
                {"method": request.method, "path": request.url.path,
                 "headers": dict(request.headers), "body": body}
            )  # fmt: skip
            return await call_next(request)

        @app.post("/v1/oauth2/token")
        async def token(request: Request) -> Any:
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return _error(401, "invalid_client")
            form = await request.form()
            if form.get("grant_type") != "client_credentials":
                return _error(400, "unsupported_grant_type")
            access = "A21" + uuid.uuid4().hex
            fake.tokens.add(access)
            return {"access_token": access, "token_type": "Bearer", "expires_in": 32400}

        def guarded(handler: Any) -> Any:
            async def wrapper(request: Request, **kw: Any) -> Any:
                if not fake._authorized(request):
                    return _error(401, "AUTHENTICATION_FAILURE")
                if request.method == "POST":
                    if request.headers.get("content-type", "").split(";")[0] != "application/json":
                        return _error(415, "UNSUPPORTED_MEDIA_TYPE")
                    rid = request.headers.get("paypal-request-id")
                    if rid and rid in fake.by_request_id:
                        return fake.by_request_id[rid]
                    result = await handler(request, **kw)
                    if rid and not isinstance(result, JSONResponse):
                        fake.by_request_id[rid] = result
                    return result
                return await handler(request, **kw)

            return wrapper

        @app.post("/v2/checkout/orders")
        async def create(request: Request) -> Any:
            return await guarded(fake._create)(request)

        @app.get("/v2/checkout/orders/{order_id}")
        async def get(request: Request, order_id: str) -> Any:
            return await guarded(fake._get)(request, order_id=order_id)

        @app.post("/v2/checkout/orders/{order_id}/capture")
        async def capture(request: Request, order_id: str) -> Any:
            return await guarded(fake._capture)(request, order_id=order_id)

        @app.post("/v2/checkout/orders/{order_id}/authorize")
        async def authorize(request: Request, order_id: str) -> Any:
            return await guarded(fake._authorize)(request, order_id=order_id)

        @app.post("/v2/payments/authorizations/{auth_id}/capture")
        async def capture_authorization(request: Request, auth_id: str) -> Any:
            return await guarded(fake._capture_authorization)(request, auth_id=auth_id)

        @app.post("/v2/payments/authorizations/{auth_id}/void")
        async def void(request: Request, auth_id: str) -> Any:
            return await guarded(fake._void)(request, auth_id=auth_id)

        @app.post("/v2/payments/captures/{capture_id}/refund")
        async def refund(request: Request, capture_id: str) -> Any:
            return await guarded(fake._refund)(request, capture_id=capture_id)

        @app.post("/v1/notifications/verify-webhook-signature")
        async def verify(request: Request) -> Any:
            return await guarded(fake._verify)(request)

        return app

    async def _create(self, request: Request) -> Any:
        if not request.headers.get("paypal-request-id"):
            return _error(400, "INVALID_REQUEST", "MISSING_REQUEST_ID")
        body = await request.json()
        units = body.get("purchase_units") or []
        if body.get("intent") not in ("CAPTURE", "AUTHORIZE") or len(units) != 1:
            return _error(422, "UNPROCESSABLE_ENTITY", "INVALID_PARAMETER_VALUE")
        amount = units[0].get("amount", {})
        if (
            not amount.get("currency_code")
            or not str(amount.get("value", "")).replace(".", "").isdigit()
        ):
            return _error(422, "UNPROCESSABLE_ENTITY", "INVALID_PARAMETER_VALUE")
        order_id = uuid.uuid4().hex[:17].upper()
        order = {
            "id": order_id,
            "status": "CREATED",
            "intent": body["intent"],
            "purchase_units": [{**units[0], "payments": {"captures": [], "authorizations": []}}],
            "links": [
                {"rel": "approve", "href": f"https://paypal.test/checkoutnow?token={order_id}"}
            ],
        }
        self.orders[order_id] = order
        return order

    async def _get(self, request: Request, order_id: str) -> Any:
        return self.orders.get(order_id) or _error(404, "RESOURCE_NOT_FOUND")

    async def _capture(self, request: Request, order_id: str) -> Any:
        order = self.orders.get(order_id)
        if order is None:
            return _error(404, "RESOURCE_NOT_FOUND")
        if order["status"] == "COMPLETED":
            return _error(422, "UNPROCESSABLE_ENTITY", "ORDER_ALREADY_CAPTURED")
        if self.decline_next_capture:
            self.decline_next_capture = False
            return _error(422, "UNPROCESSABLE_ENTITY", "INSTRUMENT_DECLINED")
        unit = order["purchase_units"][0]
        unit["payments"]["captures"].append(
            {"id": "CAP" + uuid.uuid4().hex[:14].upper(), "status": "COMPLETED",
             "amount": unit["amount"], "refunds": []}
        )  # fmt: skip
        order["status"] = "COMPLETED"
        return order

    async def _authorize(self, request: Request, order_id: str) -> Any:
        order = self.orders.get(order_id)
        if order is None:
            return _error(404, "RESOURCE_NOT_FOUND")
        if order["intent"] != "AUTHORIZE" or order["status"] == "COMPLETED":
            return _error(422, "UNPROCESSABLE_ENTITY", "ACTION_DOES_NOT_MATCH_INTENT")
        unit = order["purchase_units"][0]
        unit["payments"]["authorizations"].append(
            {"id": "AUT" + uuid.uuid4().hex[:14].upper(), "status": "CREATED",
             "amount": unit["amount"]}
        )  # fmt: skip
        order["status"] = "COMPLETED"
        return order

    def _authorization(self, auth_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for order in self.orders.values():
            for auth in order["purchase_units"][0]["payments"]["authorizations"]:
                if auth["id"] == auth_id:
                    return order, auth
        return None

    async def _capture_authorization(self, request: Request, auth_id: str) -> Any:
        found = self._authorization(auth_id)
        if found is None:
            return _error(404, "RESOURCE_NOT_FOUND")
        order, auth = found
        body = await request.json()
        amount = body.get("amount", auth["amount"])
        if auth["status"] != "CREATED" or float(amount["value"]) > float(auth["amount"]["value"]):
            return _error(422, "UNPROCESSABLE_ENTITY", "AUTHORIZATION_ALREADY_CAPTURED")
        auth["status"] = "CAPTURED"
        capture = {"id": "CAP" + uuid.uuid4().hex[:14].upper(), "status": "COMPLETED",
                   "amount": amount, "refunds": []}  # fmt: skip
        order["purchase_units"][0]["payments"]["captures"].append(capture)
        return capture

    async def _void(self, request: Request, auth_id: str) -> Any:
        found = self._authorization(auth_id)
        if found is None or found[1]["status"] != "CREATED":
            return _error(422, "UNPROCESSABLE_ENTITY", "AUTHORIZATION_VOIDED")
        found[1]["status"] = "VOIDED"
        return Response(status_code=204)

    async def _refund(self, request: Request, capture_id: str) -> Any:
        if not request.headers.get("paypal-request-id"):
            return _error(400, "INVALID_REQUEST", "MISSING_REQUEST_ID")
        body = await request.json()
        for order in self.orders.values():
            for cap in order["purchase_units"][0]["payments"]["captures"]:
                if cap["id"] == capture_id:
                    refund = {"id": "REF" + uuid.uuid4().hex[:14].upper(), "status": "COMPLETED",
                              "amount": body.get("amount", cap["amount"])}  # fmt: skip
                    cap["refunds"].append(refund)
                    return refund
        return _error(404, "RESOURCE_NOT_FOUND")

    async def _verify(self, request: Request) -> Any:
        body = await request.json()
        needed = ("auth_algo", "cert_url", "transmission_id", "transmission_sig",
                  "transmission_time", "webhook_id", "webhook_event")  # fmt: skip
        if any(not body.get(k) for k in needed):
            return _error(400, "VALIDATION_ERROR")
        import json

        raw = json.dumps(body["webhook_event"], separators=(",", ":"), sort_keys=True).encode()
        expected = sign(body["transmission_id"], body["transmission_time"], body["webhook_id"], raw)
        ok = hmac.compare_digest(expected, body["transmission_sig"])
        return {"verification_status": "SUCCESS" if ok else "FAILURE"}


class RunningFake:
    def __init__(self, fake: FakePayPal) -> None:
        self.fake = fake
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(fake.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningFake:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake PayPal did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
