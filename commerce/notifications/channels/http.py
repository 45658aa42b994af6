"""Shared httpx plumbing of the vendor adapters."""

from __future__ import annotations

from typing import Any

import httpx

from commerce.notifications.channels.base import ChannelError, http_error


def post(client: httpx.Client, provider: str, url: str, **kwargs: Any) -> httpx.Response:
    """POST and map transport errors and non-2xx answers to ChannelError."""
    try:
        response = client.post(url, **kwargs)
    except httpx.HTTPError as exc:
        raise ChannelError(f"{provider}: {type(exc).__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise http_error(provider, response.status_code, response.text)
    return response
