"""web hardening: client address and folded rows in the access audit

Revision ID: 0005
Revises: 0004

``accessAudit`` (ours, not the app's) gains ``clientIp``, ``hits`` (requests a row stands
for, 1 except on folded rows) and ``aggregateKey`` (unique; set only on the one row per
minute, client, key and outcome that counts refused authentications). Only what is
missing is added.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "accessAudit"
INDEX = "ix_accessAudit_aggregateKey"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    columns = {column["name"] for column in inspector.get_columns(TABLE)}
    if "clientIp" not in columns:
        op.add_column(TABLE, sa.Column("clientIp", sa.String(length=45), nullable=True))
    if "hits" not in columns:
        op.add_column(
            TABLE, sa.Column("hits", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )
    if "aggregateKey" not in columns:
        op.add_column(TABLE, sa.Column("aggregateKey", sa.String(length=96), nullable=True))
    if INDEX not in {index["name"] for index in inspector.get_indexes(TABLE)}:
        op.create_index(INDEX, TABLE, ["aggregateKey"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_index(INDEX)
        batch.drop_column("aggregateKey")
        batch.drop_column("hits")
        batch.drop_column("clientIp")
