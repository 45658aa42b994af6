"""Cost of the credential check per request (``serving.deps.authenticate``, which both the
FastAPI route and the fast lane of ``GET /recommendations/{user}`` call), in process. Baseline:
verifying a user JWT afresh (HS256 and two JSON parses: what every request paid before tokens
were remembered). Then a remembered JWT (``commerce.auth.verify_token``), API keys from the
process cache (``Settings.api_key_cache_s``; one HMAC-SHA256 each), and a key cache miss that
reads the database (SQLite here), as the first request per key and TTL does."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable

N, MISSES = 20_000, 300


async def _per_check_us(check: Callable[[], Awaitable[object]], n: int) -> float:
    await check()  # warm: first lookup, imports
    start = time.perf_counter()
    for _ in range(n):
        await check()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp:
        os.environ["SHOPFLOW_HOME"] = tmp
        from commerce import api_keys
        from commerce.auth import decode_token, mint_token
        from commerce.db import migrate, reset_engines
        from serving.deps import authenticate
        from shopflow.config import get_settings

        get_settings.cache_clear()
        settings = get_settings()
        migrate.upgrade()
        _, secret = api_keys.create("secret", "bench")
        _, publishable = api_keys.create("publishable", "bench")
        token = mint_token("u1")

        async def fresh_jwt() -> object:
            return decode_token(token, settings)

        def via_deps(credential: str, forget: bool = False) -> Callable[[], Awaitable[object]]:
            async def check() -> object:
                if forget:
                    api_keys.CACHE.forget()
                return await authenticate(credential, settings)

            return check

        cases = {
            "user JWT verified afresh (baseline)": (fresh_jwt, N),
            "user JWT, remembered": (via_deps(token), N),
            "secret key, cached": (via_deps(secret), N),
            "publishable key, cached": (via_deps(publishable), N),
            "secret key, cache miss (database)": (via_deps(secret, forget=True), MISSES),
        }
        results = {label: asyncio.run(_per_check_us(*args)) for label, args in cases.items()}
        reset_engines()
    base = results["user JWT verified afresh (baseline)"]
    for label, us in results.items():
        print(f"{label:38s} {us:8.1f} us/check   ratio to the baseline {us / base:.3f}")


if __name__ == "__main__":
    main()
