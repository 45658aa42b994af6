"""Dagster code location for Shopflow (``pipelines/definitions.py``)."""
