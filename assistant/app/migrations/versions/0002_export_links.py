"""Export links: which user may download which exported file, for app replicas that share a
database (`ExportStore` with a database; one process alone keeps them in memory).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_links",
        sa.Column("token", sa.Text, primary_key=True),
        sa.Column("user", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("created", sa.Double, nullable=False),
    )
    op.create_index("export_links_user", "export_links", ["user"])


def downgrade() -> None:
    op.drop_table("export_links")
