"""privacy: per-user data keys, erasure requests; PII columns hold sealed tokens

Revision ID: c3a9e1f4b7d2
Revises: e4a1c7b93f20
Create Date: 2026-12-05 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commerce.db

revision: str = "c3a9e1f4b7d2"
down_revision: str | Sequence[str] | None = "e4a1c7b93f20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "f72b8ce0beff"


def upgrade() -> None:
    op.create_table(
        "user_keys",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=True),
        sa.Column("wrapper", sa.String(length=64), nullable=False),
        sa.Column("created_at", commerce.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("shredded_at", commerce.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "erasure_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_at", commerce.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commerce.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", commerce.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_erasure_requests_user", "erasure_requests", ["user_id"])
    op.create_index("ix_erasure_requests_status", "erasure_requests", ["status"])
    # sealed tokens are longer than the plaintext they replace
    with op.batch_alter_table("notification_preferences") as batch:
        batch.alter_column("email", type_=sa.Text(), existing_nullable=True)
        batch.alter_column("phone", type_=sa.Text(), existing_nullable=True)
        batch.alter_column("push_token", type_=sa.Text(), existing_nullable=True)
        batch.add_column(sa.Column("email_hash", sa.String(length=64), nullable=True))
        batch.create_index("ix_notification_preferences_email_hash", ["email_hash"])


def downgrade() -> None:
    with op.batch_alter_table("notification_preferences") as batch:
        batch.drop_index("ix_notification_preferences_email_hash")
        batch.drop_column("email_hash")
        batch.alter_column("push_token", type_=sa.String(length=4096), existing_nullable=True)
        batch.alter_column("phone", type_=sa.String(length=32), existing_nullable=True)
        batch.alter_column("email", type_=sa.String(length=320), existing_nullable=True)
    op.drop_index("ix_erasure_requests_status", table_name="erasure_requests")
    op.drop_index("ix_erasure_requests_user", table_name="erasure_requests")
    op.drop_table("erasure_requests")
    op.drop_table("user_keys")
