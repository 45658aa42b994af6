"""``python -m cli``: the ``shopflow`` command."""

from cli.main import app

app()
