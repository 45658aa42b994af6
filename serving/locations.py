"""``Location`` of what a 201 created: the URL of the new resource."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Response

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
