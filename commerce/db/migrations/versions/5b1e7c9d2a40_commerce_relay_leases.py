"""commerce: relay leases (one outbox relay publishes at a time)

Revision ID: 5b1e7c9d2a40
Revises: d9314206a152
Create Date: 2026-11-26 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commerce.db

revision: str = "5b1e7c9d2a40"
down_revision: str | Sequence[str] | None = "d9314206a152"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relay_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", commerce.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("relay_leases")
