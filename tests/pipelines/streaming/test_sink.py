"""The landing sink and `shopflow stream status` against the real broker."""

from __future__ import annotations

from collections import Counter

import pyarrow.parquet as pq
from typer.testing import CliRunner

from cli.main import app
from pipelines.streaming.runner import ConsumerRunner
from pipelines.streaming.sink import SinkProcessor
from pipelines.streaming.status import group_lag
from shopflow import events, landing

from .conftest import produce_plain, shop_events


def _catalog_and_payments() -> list[events.Envelope]:
    product = {"item_id": "i1", "title": "Shoe", "category": "shoes", "price_minor": 4999,
               "currency": "EUR", "stock": 3}  # fmt: skip
    payment = {"payment_id": "p1", "order_id": "o1", "amount_minor": 4999, "currency": "EUR",
               "method": "STRIPE", "gateway": "test", "status": "completed"}  # fmt: skip
    return [
        events.make_event("product.upserted", product),
        events.make_event("payment.completed", payment, user_id="u1"),
    ]


def test_sink_lands_every_topic_by_type_and_commits_after_the_files(
    stream_settings, monkeypatch
) -> None:
    monkeypatch.setattr(stream_settings, "sink_roll_rows", 400)
    evs = shop_events(1_000, seed=5) + _catalog_and_payments()
    produce_plain(stream_settings, evs)
    sink = SinkProcessor(stream_settings)
    stats = ConsumerRunner(sink, stream_settings, batch_size=300).run(
        max_seconds=60, until=lambda s: s.consumed >= len(evs)
    )

    assert stats.consumed == len(evs)
    want = Counter(e.event_type for e in evs)
    landed: Counter[str] = Counter()
    ids: set[str] = set()
    for path in sink.files:
        assert path.exists() and not path.name.startswith(".")
        table = pq.read_table(path)
        event_type = table["event_type"][0].as_py()
        assert table.schema.equals(events.arrow_schema(event_type))
        landed[event_type] += table.num_rows
        ids.update(table["event_id"].to_pylist())
    assert landed == want and ids == {e.event_id for e in evs}
    assert len(sink.files) > len(want)  # rolled by size at least once
    assert not list(stream_settings.landing_dir.rglob("*.tmp"))
    assert "order_placed/event_date=" in " ".join(landing.partitions(stream_settings))
    sink_lag = [r for r in group_lag(stream_settings) if r.group.endswith("sink")]
    assert sink_lag and all(r.lag == 0 for r in sink_lag)


def test_stream_status_shows_lag_per_group_and_partition(stream_settings) -> None:
    produce_plain(stream_settings, shop_events(300, seed=9))
    result = CliRunner().invoke(app, ["stream", "status"])
    assert result.exit_code == 0, result.output
    features = [r for r in group_lag(stream_settings) if r.group.endswith("features")]
    assert sum(r.lag for r in features) == 300  # nothing consumed yet: all of it is lag
    assert all(r.committed is None for r in features)
    assert f"{stream_settings.kafka_topic_prefix}features: total lag 300" in result.output
    assert f"{stream_settings.kafka_topic_prefix}sink: total lag 300" in result.output


def test_stream_status_with_the_broker_down_is_a_clear_error(stream_settings, monkeypatch) -> None:
    from shopflow.config import get_settings
    from shopflow.embedded import free_port

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["stream", "status"])
    assert result.exit_code == 2
    assert "unreachable" in result.output
