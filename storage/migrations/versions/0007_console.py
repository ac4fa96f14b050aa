"""clinician console: alert notes (comments, resolutions) and pipeline heartbeats

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the two tables when missing; no existing table is touched."""
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "alertNotes" not in existing:
        op.create_table(
            "alertNotes",
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                autoincrement=True,
                nullable=False,
            ),
            sa.Column("alertId", sa.Integer(), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("author", sa.String(length=100), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("createdAt", sa.TIMESTAMP(), nullable=False),
            sa.ForeignKeyConstraint(
                ["alertId"], ["healthAlerts.id"], name=op.f("fk_alertNotes_alertId_healthAlerts")
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_alertNotes")),
        )
        op.create_index(
            op.f("ix_alertNotes_alertId_createdAt"),
            "alertNotes",
            ["alertId", "createdAt"],
            unique=False,
        )
    if "pipelineHeartbeats" not in existing:
        op.create_table(
            "pipelineHeartbeats",
            sa.Column("name", sa.String(length=64), nullable=False),
            sa.Column("broker", sa.String(length=255), nullable=False),
            sa.Column("connected", sa.Boolean(), nullable=False),
            sa.Column("detail", sa.String(length=255), nullable=True),
            sa.Column("startedAt", sa.TIMESTAMP(), nullable=False),
            sa.Column("changedAt", sa.TIMESTAMP(), nullable=False),
            sa.Column("updatedAt", sa.TIMESTAMP(), nullable=False),
            sa.PrimaryKeyConstraint("name", name=op.f("pk_pipelineHeartbeats")),
        )


def downgrade() -> None:
    op.drop_table("pipelineHeartbeats")
    op.drop_index(op.f("ix_alertNotes_alertId_createdAt"), table_name="alertNotes")
    op.drop_table("alertNotes")
