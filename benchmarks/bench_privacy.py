"""Field encryption's cost on the order and payment paths: the same service calls with PII
sealed (AES-GCM under the user's data key) and with the sealing functions replaced by
pass-throughs (the baseline), measured in the same run on the same SQLite database,
rounds interleaved so drift hits both alike.

Paths, per operation: place an order, then create a payment with a billing address and a
customer (sealed), confirm it and read it back (opened). ``hot``: one user, their data key
cached; ``cold key``: every payment by a user whose key exists (made at sign-up) but is not
cached, so it is read and unwrapped once; ``new users``: every payment by a user never
seen, so each one also creates and wraps a data key (one more row in the same transaction).

    .venv/bin/python -m benchmarks privacy
"""

from __future__ import annotations

import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

OPS_PER_ROUND = 60
ROUNDS = 7
TARGET = 1.10


@contextmanager
def _plaintext() -> Iterator[None]:
    """The baseline: sealing and opening are identity functions (nothing else changes)."""
    from commerce.privacy import fields

    saved = fields.seal, fields.unseal, fields.seal_json, fields.unseal_json
    fields.seal = lambda _s, _u, v: v  # type: ignore[assignment]
    fields.unseal = lambda _s, _u, v: v  # type: ignore[assignment]
    fields.seal_json = lambda _s, _u, v: v  # type: ignore[assignment]
    fields.unseal_json = lambda _s, _u, v: v  # type: ignore[assignment]
    try:
        yield
    finally:
        fields.seal, fields.unseal, fields.seal_json, fields.unseal_json = saved


def _one(user: str) -> None:
    from pydantic import ValidationError

    from commerce import orders
    from commerce.auth import Principal, Role
    from commerce.payments import service as payments

    principal = Principal(user_id=user, roles=frozenset({Role.customer}))
    for _ in range(5):
        order = orders.place_order(user, orders.OrderIn.model_validate(
            {"lines": [{"product_id": "bench-p", "quantity": 1}]}
        ))  # fmt: skip
        try:
            body = payments.PaymentIn.model_validate({
                "order_id": order["id"], "amount_minor": order["total_minor"],
                "currency": order["currency"], "method": "CREDIT_CARD",
                "payment_method": "pm_card_visa",
                "billing_address": {"line1": "1 Bench Road", "city": "Leeds",
                                    "postal_code": "LS1", "country": "GB"},
                "customer": {"name": "Bench Person", "email": "bench@example.org"},
            })  # fmt: skip
            break
        except ValidationError:  # a random order id that looks like a card number: next one
            continue
    else:
        raise RuntimeError("no payable order in five tries")
    created = payments.create_payment(principal, body)
    payments.confirm_payment(principal, created["id"])
    got = payments.get_payment(principal, created["id"])
    assert got["customer"]["name"] == "Bench Person"


def _round(users: Callable[[int], str], prepare: Callable[[list[str]], None]) -> float:
    prepare([users(i) for i in range(OPS_PER_ROUND)])  # untimed
    start = time.perf_counter()
    for i in range(OPS_PER_ROUND):
        _one(users(i))
    return (time.perf_counter() - start) / OPS_PER_ROUND


def _setup(home: Path) -> None:
    from sqlalchemy import insert

    from commerce.db import get_engine, migrate, reset_engines, utcnow
    from commerce.db.models.commerce import Product
    from shopflow.config import get_settings

    os.environ["SHOPFLOW_HOME"] = str(home)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("STRIPE_API_KEY", None)
    get_settings.cache_clear()
    reset_engines()
    migrate.upgrade()
    now = utcnow()
    with get_engine().begin() as con:
        con.execute(insert(Product).values(
            id="bench-p", title="Bench", description="", category="c", brand="",
            price_minor=1000, currency="USD", stock=10**9, attributes={},
            created_at=now, updated_at=now,
        ))  # fmt: skip


def _nothing(_users: list[str]) -> None:
    pass


def _keys_not_cached(users: list[str]) -> None:
    """Each user has a data key (made at sign-up) that this process has not cached."""
    from commerce.db import session_scope
    from commerce.privacy.keyring import get_keyring

    ring = get_keyring()
    with session_scope() as session:
        for user in users:
            ring.dek(session, user, create=True)
    for user in users:
        ring.forget(user)


def _compare(
    label: str, users: Callable[[str, int, int], str], prepare: Callable[[list[str]], None]
) -> float:
    """Print the sealed/plaintext ratio; returns the plaintext seconds per operation."""
    sealed: list[float] = []
    plain: list[float] = []
    for r in range(ROUNDS):
        sealed.append(_round(functools.partial(users, "s", r), prepare))
        with _plaintext():
            plain.append(_round(functools.partial(users, "p", r), _nothing))
    s, p = statistics.median(sealed), statistics.median(plain)
    ratio = s / p
    verdict = "within" if ratio < TARGET else "OVER"
    print(f"{label:>10}: sealed {s * 1000:7.2f} ms/op, plaintext {p * 1000:7.2f} ms/op, "
          f"ratio {ratio:.3f} ({verdict} the {TARGET:.2f} target)")  # fmt: skip
    return p


def _crypto_share(path_s: float) -> None:
    """The sealing work of one operation alone (two JSON fields sealed, opened three times,
    data key cached), timed in a tight loop: less noisy than the path ratios on a busy
    machine."""
    from commerce.db import session_scope
    from commerce.privacy import fields

    address = {"line1": "1 Bench Road", "city": "Leeds", "postal_code": "LS1", "country": "GB"}
    customer = {"name": "Bench Person", "email": "bench@example.org"}
    n = 5_000
    with session_scope() as session:
        fields.seal(session, "bench-crypto", "warm")
        start = time.perf_counter()
        for _ in range(n):
            a = fields.seal_json(session, "bench-crypto", address)
            c = fields.seal_json(session, "bench-crypto", customer)
            for _ in range(3):  # create's response, confirm's, the read's
                fields.unseal_json(session, "bench-crypto", a)
                fields.unseal_json(session, "bench-crypto", c)
    per_op = (time.perf_counter() - start) / n
    print(f"    crypto: {per_op * 1e6:7.1f} us/op = {per_op / path_s:.2%} of the plaintext path")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-privacy-") as tmp:
        _setup(Path(tmp))
        _one("warm-up")
        with _plaintext():
            _one("warm-up-plain")
        print(f"order + payment create/confirm/read, {OPS_PER_ROUND} ops x {ROUNDS} rounds "
              "each, SQLite, the embedded test gateway")  # fmt: skip
        plain_s = _compare("hot", lambda mode, _r, _i: f"bench-{mode}", _nothing)
        _crypto_share(plain_s)
        _compare("cold key", lambda mode, r, i: f"cold-{mode}-{r}-{i}", _keys_not_cached)
        _compare("new users", lambda mode, r, i: f"new-{mode}-{r}-{i}", _nothing)


if __name__ == "__main__":
    main()
