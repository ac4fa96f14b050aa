"""ingest hardening: devices remember their newest ts and the messages lost in their
numbering (seq gaps)

Revision ID: 0004
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("lastTsMs", sa.BigInteger(), nullable=True),
        sa.Column("seqGaps", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("lastGapAt", sa.TIMESTAMP(), nullable=True),
    ]


def upgrade() -> None:
    """Add the columns that are missing to ``devices`` (our own table; the app's tables are
    never touched)."""
    existing = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("devices")}
    for column in _columns():
        if column.name not in existing:
            op.add_column("devices", column)


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
