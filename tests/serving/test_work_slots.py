"""Commerce commands in threads (``serving.command_threads``, ``commerce.work_slots``): at
most N work at once, a command waiting on a remote gateway holds no slot (an in-process one
keeps it), the gates never deadlock, and the default follows the database."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from commerce import work_slots
from commerce.db import reset_engines
from commerce.payments import service
from commerce.payments.gateways import testing
from commerce.payments.gateways.stripe_gateway import StripeGateway
from serving import command_threads
from shopflow.config import get_settings
from tests.serving.fakes.commerce import localstripe_url  # noqa: F401  (fixture)


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reset_engines()


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:
    monkeypatch.setenv("SHOPFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SHOPFLOW_COMMERCE_WORK_SLOTS", raising=False)
    yield
    get_settings.cache_clear()
    reset_engines()


class _Meter:
    """How many threads were inside ``work`` at once, at most."""

    def __init__(self) -> None:
        self.inside = self.most = 0
        self.guard = threading.Lock()

    def work(self, seconds: float) -> None:
        with self.guard:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(seconds)
        with self.guard:
            self.inside -= 1


class _Remote:
    remote = True

    def __init__(self, meter: _Meter) -> None:
        self.meter = meter

    def confirm(self, seconds: float) -> None:
        self.meter.work(seconds)


class _InProcess(_Remote):
    remote = False


async def _commands(n: int, command: Callable[[], object]) -> None:
    await asyncio.gather(*(command_threads.run(command) for _ in range(n)))


def test_at_most_the_slots_work_at_once(home: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(monkeypatch, SHOPFLOW_COMMERCE_WORK_SLOTS="2")
    meter = _Meter()
    asyncio.run(_commands(6, lambda: meter.work(0.05)))
    assert meter.most == 2


def test_a_command_waiting_on_a_remote_gateway_holds_no_slot(
    home: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings(monkeypatch, SHOPFLOW_COMMERCE_WORK_SLOTS="2", SHOPFLOW_COMMERCE_WRITE_THREADS="8")
    waiting, working = _Meter(), _Meter()

    def command() -> None:
        service._gateway_call(_Remote(waiting).confirm, 0.1)
        working.work(0.02)  # and back in a slot after

    asyncio.run(_commands(6, command))
    assert waiting.most == 6 and working.most == 2


def test_an_in_process_gateway_keeps_its_slot(home: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert testing.TestGateway.remote is False
    _settings(monkeypatch, SHOPFLOW_COMMERCE_WORK_SLOTS="2")
    meter = _Meter()
    asyncio.run(_commands(6, lambda: service._gateway_call(_InProcess(meter).confirm, 0.05)))
    assert meter.most == 2


def test_the_gates_do_not_deadlock(home: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every place taken by a command waiting on a gateway, more commands queued for both."""
    _settings(monkeypatch, SHOPFLOW_COMMERCE_WORK_SLOTS="1", SHOPFLOW_COMMERCE_WRITE_THREADS="2")
    meter, done = _Meter(), []

    def command() -> None:
        service._gateway_call(_Remote(meter).confirm, 0.02)
        done.append(1)

    asyncio.run(asyncio.wait_for(_commands(8, command), timeout=10))
    assert len(done) == 8


def test_the_default_follows_the_database(home: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(monkeypatch)
    assert work_slots.count() == 1
    _settings(monkeypatch, DATABASE_URL="postgresql://shop@localhost/shop")
    assert work_slots.count() == 4


class _Recorder:
    """A slot that records what its thread does with it."""

    def __init__(self) -> None:
        self.steps: list[str] = []

    def give_back(self) -> None:
        self.steps.append("give_back")

    def take_again(self) -> None:
        self.steps.append("take_again")


def _create(gateway: testing.TestGateway | StripeGateway, payment_id: str) -> str:
    slot = _Recorder()
    with work_slots.holding(slot):
        result = service._gateway_call(
            gateway.create, payment_id=payment_id, amount_minor=1999, currency="EUR",
            payment_method="pm_card_visa", idempotency_key=payment_id,
        )  # fmt: skip
    assert result.txn_id
    return " ".join(slot.steps)


def test_a_stripe_call_gives_the_slot_back_and_the_test_gateway_keeps_it(
    localstripe_url: str,  # noqa: F811
) -> None:
    stripe = StripeGateway("sk_test_shopflow", api_base=localstripe_url)
    assert _create(stripe, "pay_slots_1") == "give_back take_again"  # a real Stripe API peer
    assert _create(testing.TestGateway(), "pay_slots_2") == ""
