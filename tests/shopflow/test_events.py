from datetime import UTC, datetime

import pyarrow as pa
import pytest
from pydantic import ValidationError

from shopflow import events, landing


def test_every_event_type_has_a_parquet_schema_and_checks() -> None:
    for event_type in events.PAYLOADS:
        schema = events.arrow_schema(event_type)
        assert schema.names[:6] == list(events.Envelope.ENVELOPE_FIELDS)
        assert events.contract_checks(event_type)


def test_parse_event_roundtrip_and_discriminates() -> None:
    ev = events.make_event(
        "add_to_cart",
        {"item_id": "i1", "quantity": 2, "unit_price_minor": 1999, "currency": "EUR"},
        user_id="u1",
    )
    back = events.parse_event(ev.model_dump_json())
    assert type(back).__name__ == "AddToCartEvent"
    assert back.payload == ev.payload


@pytest.mark.parametrize(
    "payload",
    [
        {"item_id": "", "quantity": 1, "unit_price_minor": 1, "currency": "EUR"},
        {"item_id": "i", "quantity": 0, "unit_price_minor": 1, "currency": "EUR"},
        {"item_id": "i", "quantity": 1, "unit_price_minor": -5, "currency": "EUR"},
        {"item_id": "i", "quantity": 1, "unit_price_minor": 1, "currency": "euro"},
        {"item_id": "i", "quantity": 1, "unit_price_minor": 1, "currency": "EUR", "x": 1},
    ],
)
def test_bad_payloads_are_rejected(payload: dict) -> None:
    with pytest.raises(ValidationError):
        events.make_event("add_to_cart", payload)


def test_naive_timestamp_rejected() -> None:
    with pytest.raises(ValidationError):
        events.make_event("product_view", {"item_id": "i"}, occurred_at=datetime(2026, 1, 1))


def test_unknown_event_type() -> None:
    with pytest.raises(ValidationError):
        events.parse_event({"event_type": "nope", "payload": {}})


def test_landing_writes_partitioned_files(shopflow_home) -> None:
    evs = [
        events.make_event(
            "product_view", {"item_id": f"i{d}"}, occurred_at=datetime(2026, 1, d, tzinfo=UTC)
        )
        for d in (1, 1, 2)
    ]
    files = landing.write_events(evs)
    assert len(files) == 2
    assert landing.partitions() == [
        "product_view/event_date=2026-01-01",
        "product_view/event_date=2026-01-02",
    ]
    table = pa.concat_tables([__import__("pyarrow.parquet").parquet.read_table(f) for f in files])
    assert table.schema.names == events.arrow_schema("product_view").names


def test_rating_is_valid_anywhere_on_its_own_scale() -> None:
    scale = {"scale_min": 0.5, "scale_max": 5.0, "positive_threshold": 4.0}
    half = events.make_event("rating", {"item_id": "i", "rating": 0.5, **scale}, user_id="u")
    assert events.parse_event(half.model_dump_json()).payload == half.payload
    for bad in ({"rating": 5.5}, {"rating": float("nan")}, {"positive_threshold": 6.0},
                {"scale_min": 5.0, "rating": 5.0, "positive_threshold": 5.0}):  # fmt: skip
        with pytest.raises(ValidationError):
            events.make_event("rating", {"item_id": "i", "rating": 3.0, **scale, **bad})
