"""Prometheus metrics of the stream consumers (one process per consumer; each may serve its
own ``/metrics`` port with ``prometheus_client.start_http_server``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "shopflow_stream_messages",
    "Messages handled by a consumer group, by outcome (applied, duplicate, dead_letter).",
    ["group", "topic", "outcome"],
)
BATCH_SECONDS = Histogram(
    "shopflow_stream_batch_seconds",
    "Time to process one batch (decode, apply, commit).",
    ["group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LAG = Gauge(
    "shopflow_stream_lag",
    "Messages between the group's position and the partition's high watermark.",
    ["group", "topic", "partition"],
)
RETRIES = Counter(
    "shopflow_stream_batch_retries", "Batches retried after a processing error.", ["group"]
)
LAST_COMMIT = Gauge(
    "shopflow_stream_last_commit_timestamp_seconds", "When offsets were last committed.", ["group"]
)
