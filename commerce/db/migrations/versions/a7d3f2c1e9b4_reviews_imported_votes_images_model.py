"""reviews: imported helpful votes, image links, the spam model version that judged a review

Revision ID: a7d3f2c1e9b4
Revises: c3a9e1f4b7d2
Create Date: 2026-12-05 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7d3f2c1e9b4"
down_revision: str | Sequence[str] | None = "c3a9e1f4b7d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "838c7a04dbb3"


def upgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(
            sa.Column("helpful_imported", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("image_urls", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("spam_model_version", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("spam_model_version")
        batch.drop_column("image_urls")
        batch.drop_column("helpful_imported")
