"""Spy on a fast lane's handler (``serving.fastlane``): the values of each answer it gave."""

from __future__ import annotations

from typing import Any

import pytest


def spy_on_handler(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[dict]:
    """Replace ``module.name`` (a lane handler) by one that records its values, then answers."""
    calls: list[dict[str, Any]] = []
    handler = getattr(module, name)

    async def spy(state: Any, values: dict[str, Any]) -> bytes:
        calls.append(values)
        return await handler(state, values)

    monkeypatch.setattr(module, name, spy)
    return calls
