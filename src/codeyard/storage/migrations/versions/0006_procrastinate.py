"""procrastinate's job queue (PostgreSQL only)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

The distributed mode wakes ``codeyard worker`` processes through procrastinate (a PostgreSQL job queue with
LISTEN/NOTIFY). Its tables, types and functions come from the pinned package's own ``schema.sql``, applied once;
SQLite deployments need none of it.
"""

from collections.abc import Sequence
from importlib import resources

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if bind.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
        return  # applied by hand (``procrastinate schema --apply``) before codeyard managed it
    schema = resources.files("procrastinate.sql").joinpath("schema.sql").read_text()
    # straight to psycopg, without parameters: the functions' bodies contain ``%`` that must stay as written
    with bind.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(schema)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql(
        "DROP TABLE IF EXISTS procrastinate_periodic_defers, procrastinate_events, procrastinate_jobs, "
        "procrastinate_workers CASCADE"
    )
