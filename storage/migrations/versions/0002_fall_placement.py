"""device placement for the fall detector

Revision ID: 0002
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``devices.placement`` (wrist, waist, chest, pocket; NULL = unknown) if missing."""
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("devices")}
    if "placement" not in columns:
        op.add_column("devices", sa.Column("placement", sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Drop ``devices.placement`` (our own table; the app's tables are never touched)."""
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("placement")
