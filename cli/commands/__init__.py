"""Command modules: each defines ``register(app)`` and/or ``app`` plus ``NAME``."""
