"""PostgreSQL: NOTIFY at commit when events or webhook outbox messages are inserted

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

Statement-level triggers, so every writer (an API replica, a worker, the embedded runner) wakes the processes that
LISTEN, with no change to the code that writes. ``pg_notify`` is transactional: the notification is sent when the
inserting transaction commits (never for one that rolls back), and identical notifications of one transaction are
folded into one. The payload is empty: a listener only learns "read the table now". SQLite has no such thing; its
processes notice other writers through ``PRAGMA data_version``.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRIGGERS = (("events", "codeyard_events"), ("webhook_outbox", "codeyard_webhooks"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, channel in _TRIGGERS:
        op.execute(
            f"CREATE OR REPLACE FUNCTION {channel}_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_notify('{channel}', ''); RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {channel}_notify()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, channel in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {channel}_notify()")
