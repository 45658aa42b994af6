"""``Location`` of what a 201 created: the URL of the new resource."""

from __future__ import annotations

from urllib.parse import quote

import orjson
from fastapi import Response
from fastapi.responses import JSONResponse

LOCATION_HEADER = {
    "Location": {
        "description": "URL of the created resource.",
        "schema": {"type": "string", "format": "uri-reference"},
    }
}


def locate(response: Response, prefix: str, *segments: str) -> None:
    """``Location: {prefix}/{segment}/...``, each segment percent-encoded."""
    path = "/".join(quote(segment, safe="") for segment in segments)
    response.headers["Location"] = f"{prefix}/{path}" if path else prefix


def located(response: JSONResponse, prefix: str) -> JSONResponse:
    """Add ``Location: {prefix}/{id}`` to a 201 whose body has the new resource's ``id``
    (replays of an idempotent create too); other statuses pass unchanged."""
    if response.status_code == 201:
        locate(response, prefix, orjson.loads(response.body)["id"])
    return response
