"""Shopflow: one platform from event to served recommendation to measured experiment."""

__version__ = "0.1.0"
