"""escalation: rounds, calls and follow-up texts; inbound message ids; frozen alert values;
the latest location fix per user

Revision ID: 0006
Revises: 0005

- ``smsNotifications`` gains ``recipient`` (``contact:<id>`` or ``oncall``), ``channel``
  (``sms`` | ``call``), ``purpose`` (``alert`` | ``responding`` | ``all_clear``) and
  ``round`` (1-based). The unique key becomes (alertId, recipient, channel, purpose, round)
  so a contact can be texted again in a second round and called, each at most once;
  ``contactId`` becomes nullable (the on-call number is not an emergency contact).
- ``inboundMessages``: one row per inbound Twilio ``MessageSid`` / ``CallSid`` (unique):
  a replayed webhook is recognised and ignored.
- ``alertStates`` gains ``heartRateAtAlert`` / ``stressLevelAtAlert``: the value at alert
  time, frozen, so every text of one alert quotes the same number.
- ``userLocations``: the latest location fix per user (one row per user, never a history).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_UNIQUE = "uq_smsNotifications_alertId_contactId"
NEW_UNIQUE = "uq_smsNotifications_alertId_recipient_channel_purpose_round"


def _columns(table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    """Add what is missing; the app's seed tables are never touched."""
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "recipient" not in _columns("smsNotifications"):
        with op.batch_alter_table("smsNotifications") as batch:
            batch.add_column(
                sa.Column("recipient", sa.String(length=32), server_default="", nullable=False)
            )
            batch.add_column(
                sa.Column("channel", sa.String(length=8), server_default="sms", nullable=False)
            )
            batch.add_column(
                sa.Column("purpose", sa.String(length=16), server_default="alert", nullable=False)
            )
            batch.add_column(sa.Column("round", sa.Integer(), server_default="1", nullable=False))
        table = sa.table(
            "smsNotifications", sa.column("recipient", sa.String), sa.column("contactId")
        )
        op.execute(
            table.update().values(
                recipient=sa.literal("contact:") + sa.cast(table.c.contactId, sa.String(16))
            )
        )
        with op.batch_alter_table("smsNotifications") as batch:
            batch.create_unique_constraint(
                NEW_UNIQUE, ["alertId", "recipient", "channel", "purpose", "round"]
            )
            batch.drop_constraint(OLD_UNIQUE, type_="unique")
            batch.alter_column("contactId", existing_type=sa.Integer(), nullable=True)
    if "heartRateAtAlert" not in _columns("alertStates"):
        with op.batch_alter_table("alertStates") as batch:
            batch.add_column(sa.Column("heartRateAtAlert", sa.Integer(), nullable=True))
            batch.add_column(sa.Column("stressLevelAtAlert", sa.Integer(), nullable=True))
    if "inboundMessages" not in existing:
        op.create_table(
            "inboundMessages",
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                autoincrement=True,
                nullable=False,
            ),
            sa.Column("providerSid", sa.String(length=64), nullable=False),
            sa.Column("contactId", sa.Integer(), nullable=True),
            sa.Column("outcome", sa.String(length=32), nullable=False),
            sa.Column("receivedAt", sa.TIMESTAMP(), nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_inboundMessages")),
            sa.UniqueConstraint("providerSid", name=op.f("uq_inboundMessages_providerSid")),
        )
    if "userLocations" not in existing:
        op.create_table(
            "userLocations",
            sa.Column("userId", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("lat", sa.Double(), nullable=False),
            sa.Column("lon", sa.Double(), nullable=False),
            sa.Column("accM", sa.Double(), nullable=True),
            sa.Column("fixAt", sa.TIMESTAMP(), nullable=False),
            sa.Column("updatedAt", sa.TIMESTAMP(), nullable=False),
            sa.PrimaryKeyConstraint("userId", name=op.f("pk_userLocations")),
        )


def downgrade() -> None:
    """Drop the new tables and columns (texts of later rounds are dropped first)."""
    op.drop_table("userLocations")
    op.drop_table("inboundMessages")
    with op.batch_alter_table("alertStates") as batch:
        batch.drop_column("stressLevelAtAlert")
        batch.drop_column("heartRateAtAlert")
    table = sa.table(
        "smsNotifications",
        sa.column("purpose"),
        sa.column("round"),
        sa.column("channel"),
        sa.column("contactId"),
    )
    op.execute(
        table.delete().where(
            sa.or_(
                table.c.purpose != "alert",
                table.c.round != 1,
                table.c.channel != "sms",
                table.c.contactId.is_(None),
            )
        )
    )
    with op.batch_alter_table("smsNotifications") as batch:
        batch.create_unique_constraint(OLD_UNIQUE, ["alertId", "contactId"])
        batch.drop_constraint(NEW_UNIQUE, type_="unique")
        batch.drop_column("round")
        batch.drop_column("purpose")
        batch.drop_column("channel")
        batch.drop_column("recipient")
        batch.alter_column("contactId", existing_type=sa.Integer(), nullable=False)
