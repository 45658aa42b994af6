"""commerce: idempotency key leases (a crashed owner's key is taken over) and cache
versions (a cache entry is served only while its version is the database's)

Revision ID: 3c8e1f5a7b20
Revises: c4a9e1f3b7d2
Create Date: 2026-12-05 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commerce.db

revision: str = "3c8e1f5a7b20"
down_revision: str | Sequence[str] | None = "c4a9e1f3b7d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "idempotency_keys",
        sa.Column("lease_until", commerce.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "cache_versions",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("cache_versions")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("lease_until")
