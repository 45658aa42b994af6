"""experiments: SDK client keys for the feature payload (stored hashed)

Revision ID: b5e2d8f41c07
Revises: b8e2d4f6a1c3
Create Date: 2026-12-05 15:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commerce.db

revision: str = "b5e2d8f41c07"
down_revision: str | Sequence[str] | None = "b8e2d4f6a1c3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feature_client_keys",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("environment", sa.String(length=32), nullable=False),
        sa.Column("created_at", commerce.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", commerce.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_hash"),
    )


def downgrade() -> None:
    op.drop_table("feature_client_keys")
