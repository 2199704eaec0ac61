"""event details: the ``data`` column of events becomes the public ``details`` object

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Events are ordered by their integer ``pk`` (insertion order; on SQLite also commit order, since writers are
serialized); streams resume from the ``pk`` of the event named by ``Last-Event-ID``.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column("data", new_column_name="details")


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column("details", new_column_name="data")
