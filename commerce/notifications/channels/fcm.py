"""Push through the FCM HTTP v1 API (``POST /v1/projects/{project}/messages:send``) with an
OAuth 2.0 bearer token from a pluggable ``TokenProvider``.

``ServiceAccountTokenProvider`` does Google's JWT-bearer grant: an RS256 assertion signed
with the service account's key, exchanged at its ``token_uri`` for an access token (cached
until a minute before it expires).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt

from commerce.notifications.channels.base import ChannelError, OutgoingMessage, SendResult
from commerce.notifications.channels.http import post

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class TokenProvider(Protocol):
    def token(self, refresh: bool = False) -> str: ...


class StaticTokenProvider:
    def __init__(self, token: str) -> None:
        self._token = token

    def token(self, refresh: bool = False) -> str:
        return self._token


class ServiceAccountTokenProvider:
    def __init__(self, info: dict[str, Any], timeout: float = 10.0) -> None:
        missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
        if missing:
            raise ValueError(f"service account JSON lacks {', '.join(missing)}")
        self.info = info
        self.timeout = timeout
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path) -> ServiceAccountTokenProvider:
        return cls(json.loads(Path(path).read_text()))

    def assertion(self, now: float) -> str:
        claims = {
            "iss": self.info["client_email"],
            "scope": FCM_SCOPE,
            "aud": self.info["token_uri"],
            "iat": int(now),
            "exp": int(now) + 3600,
        }
        headers = {"kid": self.info["private_key_id"]} if self.info.get("private_key_id") else None
        return jwt.encode(claims, self.info["private_key"], algorithm="RS256", headers=headers)

    def token(self, refresh: bool = False) -> str:
        with self._lock:
            now = time.time()
            if self._token and not refresh and now < self._expires - 60:
                return self._token
            form = {"grant_type": JWT_BEARER, "assertion": self.assertion(now)}
            try:
                response = httpx.post(self.info["token_uri"], data=form, timeout=self.timeout)
            except httpx.HTTPError as exc:
                raise ChannelError(f"fcm oauth: {exc}") from exc
            if response.status_code != 200:
                raise ChannelError(f"fcm oauth HTTP {response.status_code}: {response.text[:200]}")
            body = response.json()
            self._token = str(body["access_token"])
            self._expires = now + float(body.get("expires_in", 3600))
            return self._token


class FcmPush:
    name = "push"
    provider = "fcm"

    def __init__(
        self, project_id: str, tokens: TokenProvider, base_url: str, timeout: float = 10.0
    ) -> None:
        self.path = f"/v1/projects/{project_id}/messages:send"
        self.tokens = tokens
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        data = {k: str(v) for k, v in message.data.items()}
        data["delivery_id"] = message.delivery_id
        return {
            "message": {
                "token": message.to,
                "notification": {"title": message.subject or "", "body": message.text},
                "data": data,
            }
        }

    def send(self, message: OutgoingMessage) -> SendResult:
        if not message.to:
            raise ChannelError("no push token", retryable=False)
        body = self.payload(message)
        for refresh in (False, True):  # one retry with a fresh token after a 401
            headers = {"Authorization": f"Bearer {self.tokens.token(refresh=refresh)}"}
            try:
                response = post(self.client, self.provider, self.path, json=body, headers=headers)
            except ChannelError as exc:
                if not refresh and "HTTP 401" in str(exc):
                    continue
                raise
            return SendResult(self.provider, str(response.json()["name"]))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.client.close()
