"""Schema migrations (Alembic). Each domain keeps its own branch of revisions (a branch label
per domain, e.g. ``core``, ``commerce``, ``reviews``), so ``upgrade`` goes to all ``heads``.

New revision for a domain: ``.venv/bin/alembic -c commerce/db/alembic.ini revision
--autogenerate --head <label>@head -m "..."`` (a new domain: ``--head base
--branch-label <label>``, with ``depends_on`` the core revision)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from shopflow.config import get_settings

HERE = Path(__file__).parent


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url or get_settings().sqlalchemy_url)
    return cfg


def upgrade(url: str | None = None) -> None:
    """Bring the database at ``url`` (default: the configured one) to every head."""
    get_settings().home_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "heads")
