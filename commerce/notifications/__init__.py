"""Notifications: workflows (config) -> templates (DB, sandboxed Jinja2) -> channels (email,
SMS, push, in-app), with preferences, digests and delivery tracking."""
