"""payments: manual capture (authorization, its expiry), disputes

Revision ID: b8e2d4f6a1c3
Revises: a7d3f2c1e9b4
Create Date: 2026-12-05 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commerce.db

revision: str = "b8e2d4f6a1c3"
down_revision: str | Sequence[str] | None = "a7d3f2c1e9b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AMOUNTS = ("authorized_minor", "disputed_minor", "dispute_fee_minor")


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(
            sa.Column(
                "capture_mode", sa.String(length=10), nullable=False, server_default="automatic"
            )
        )
        for name in _AMOUNTS:
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column(
                "authorization_expires_at", commerce.db.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.create_index("ix_payments_authorization_expires_at", ["authorization_expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_index("ix_payments_authorization_expires_at")
        batch.drop_column("authorization_expires_at")
        for name in reversed(_AMOUNTS):
            batch.drop_column(name)
        batch.drop_column("capture_mode")
