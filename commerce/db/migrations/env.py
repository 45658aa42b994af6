"""Alembic environment: the URL comes from the caller's config or Settings."""

from __future__ import annotations

from alembic import context

import commerce.db.models  # noqa: F401  (registers every table)
from commerce.db import Base, get_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or None


def run_migrations_online() -> None:
    engine = get_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
