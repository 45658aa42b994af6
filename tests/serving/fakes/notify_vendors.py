"""Local servers speaking the subset of the notification vendors' APIs Shopflow uses. Each
checks the request the way the vendor does (auth header, path, body) and records it.

- SendGrid v3: ``POST /v3/mail/send`` (Bearer API key, JSON) -> 202 + ``X-Message-Id``.
- Twilio: ``POST /2010-04-01/Accounts/{Sid}/Messages.json`` (Basic SID:token, form) -> 201.
- FCM HTTP v1: ``POST /v1/projects/{p}/messages:send`` (Bearer OAuth token, JSON) and the
  Google OAuth token endpoint ``POST /token`` (JWT-bearer grant, RS256 assertion).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.serving.fakes.paypal_server import RunningFake

SENDGRID_KEY = "SG.test-key"
TWILIO_SID, TWILIO_TOKEN = "AC" + "0" * 32, "twilio-auth-token"
FCM_PROJECT = "shopflow-test"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


class VendorFake:
    """Base: records requests; ``fail_next`` answers that many requests with ``fail_status``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        self.fail_status = 503
        self.app = FastAPI()

        @self.app.middleware("http")
        async def record(request: Request, call_next: Any) -> Any:
            body = await request.body()
            self.requests.append({"method": request.method, "path": request.url.path,
                                  "headers": dict(request.headers), "body": body})  # fmt: skip
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse({"errors": [{"message": "unavailable"}]}, self.fail_status)
            return await call_next(request)

    def running(self) -> RunningFake:
        return RunningFake(self)  # type: ignore[arg-type]


def _json_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)


class FakeSendGrid(VendorFake):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, Any]] = []

        @self.app.post("/v3/mail/send")
        async def send(request: Request) -> Any:
            if request.headers.get("authorization") != f"Bearer {SENDGRID_KEY}":
                return _json_error(401, "The provided authorization grant is invalid")
            if request.headers.get("content-type", "").split(";")[0] != "application/json":
                return _json_error(415, "content type must be application/json")
            body = await request.json()
            try:
                to = body["personalizations"][0]["to"][0]["email"]
                assert "@" in to and "@" in body["from"]["email"]
                assert body["subject"]
                types = [c["type"] for c in body["content"]]
                assert types[0] == "text/plain" and set(types) <= {"text/plain", "text/html"}
            except (KeyError, IndexError, TypeError, AssertionError):
                return _json_error(400, "invalid mail send request")
            self.sent.append(body)
            message_id = uuid.uuid4().hex[:22]
            return JSONResponse(None, status_code=202, headers={"X-Message-Id": message_id})


class FakeTwilio(VendorFake):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, str]] = []

        @self.app.post("/2010-04-01/Accounts/{sid}/Messages.json")
        async def messages(sid: str, request: Request) -> Any:
            expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
            if sid != TWILIO_SID or request.headers.get("authorization") != f"Basic {expected}":
                return JSONResponse({"code": 20003, "message": "Authenticate"}, 401)
            ctype = request.headers.get("content-type", "")
            if not ctype.startswith("application/x-www-form-urlencoded"):
                return JSONResponse({"code": 20001, "message": "form body expected"}, 400)
            form = {k: str(v) for k, v in (await request.form()).items()}
            if (
                not form.get("To", "").startswith("+")
                or not form.get("From")
                or not form.get("Body")
            ):
                return JSONResponse({"code": 21604, "message": "To, From, Body required"}, 400)
            self.sent.append(form)
            sid_out = "SM" + uuid.uuid4().hex
            return JSONResponse(
                {"sid": sid_out, "status": "queued", "to": form["To"], "body": form["Body"]}, 201
            )


class FakeFcm(VendorFake):
    """Also Google's OAuth token endpoint; ``service_account(url)`` is the credentials JSON."""

    def __init__(self) -> None:
        super().__init__()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.client_email = "push@shopflow-test.iam.gserviceaccount.com"
        self.tokens: set[str] = set()
        self.sent: list[dict[str, Any]] = []
        public = self.key.public_key()

        @self.app.post("/token")
        async def token(request: Request) -> Any:
            form = await request.form()
            if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                return JSONResponse({"error": "unsupported_grant_type"}, 400)
            try:
                claims = jwt.decode(
                    str(form.get("assertion")), public, algorithms=["RS256"],
                    audience=str(request.url), options={"require": ["iss", "exp", "iat"]},
                )  # fmt: skip
            except jwt.PyJWTError:
                return JSONResponse({"error": "invalid_grant"}, 400)
            if claims["iss"] != self.client_email or claims.get("scope") != FCM_SCOPE:
                return JSONResponse({"error": "invalid_scope"}, 400)
            access = "ya29." + uuid.uuid4().hex
            self.tokens.add(access)
            return {"access_token": access, "token_type": "Bearer", "expires_in": 3599}

        @self.app.post("/v1/projects/{project}/messages:send")
        async def send(project: str, request: Request) -> Any:
            auth = request.headers.get("authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
                return JSONResponse({"error": {"code": 401, "status": "UNAUTHENTICATED"}}, 401)
            if project != FCM_PROJECT:
                return JSONResponse({"error": {"code": 404, "status": "NOT_FOUND"}}, 404)
            body = await request.json()
            message = body.get("message", {}) if isinstance(body, dict) else {}
            data = message.get("data", {})
            if (
                not message.get("token")
                or not isinstance(message.get("notification"), dict)
                or not all(isinstance(v, str) for v in data.values())
            ):
                return JSONResponse({"error": {"code": 400, "status": "INVALID_ARGUMENT"}}, 400)
            self.sent.append(message)
            return {"name": f"projects/{project}/messages/0:{uuid.uuid4().int % 10**16}"}

    def service_account(self, base_url: str) -> dict[str, str]:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": FCM_PROJECT,
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": self.client_email,
            "token_uri": f"{base_url}/token",
        }
