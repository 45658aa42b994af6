"""SHOPFLOW_NOTIFY_DIGEST_WINDOW_S overrides the workflows' digest window (the demo's short
one): a price drop is mailed once that window closes, not after notifications.yaml's hour."""

from __future__ import annotations

from datetime import timedelta

from commerce.notifications import delivery, service
from tests.serving.fakes.notifications import (  # noqa: F401  (fixtures)
    NOON,
    channels,
    notify_settings,
    price_drop,
    set_prefs,
    smtp,
)


def test_digest_window_setting_shortens_the_wait(notify_settings, channels, smtp) -> None:  # noqa: F811
    notify_settings.notify_digest_window_s = 20.0
    set_prefs("u9", email="short@example.com")
    (done,) = service.handle_event(price_drop("u9", "sku-9", 5000, 3999), now=NOON)
    assert done.digested
    assert service.flush_digests(NOON + timedelta(seconds=19)) == []
    (flushed,) = service.flush_digests(NOON + timedelta(seconds=20))
    delivery.deliver_many(flushed.due_now, channels, NOON + timedelta(seconds=20))
    assert [m["Subject"] for m in smtp.inbox.messages] == ["1 price drop on your wishlist"]
