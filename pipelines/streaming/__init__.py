"""Kafka consumer groups: ``features`` (Redis online features and live metrics) and ``sink``
(landing Parquet), both run by ``runner.ConsumerRunner``."""
