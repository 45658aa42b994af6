"""One router module per domain; each defines ``router`` and is included by serving.app."""
