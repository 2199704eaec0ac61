"""daily ACU usage, session insights, organization tags

Revision ID: 0010
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_DAY_OFFSET = 8 * 3600
"""Days are cut at midnight Pacific, 08:00 UTC, as in Devin's consumption reports."""


def upgrade() -> None:
    op.create_table(
        "acu_usage",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("service_user_id", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("acus", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("session_id", "day", name="uq_acu_usage_session_day"),
    )
    op.create_index("ix_acu_usage_org_day", "acu_usage", ["org_id", "day"])
    # Sessions that worked before this table existed: their ACUs count on the day they were last updated.
    op.execute(
        sa.text(
            "INSERT INTO acu_usage (org_id, session_id, service_user_id, user_id, day, acus) "
            "SELECT org_id, id, service_user_id, user_id, "
            f"CAST(FLOOR((updated_at - {_DAY_OFFSET}) / 86400) AS INTEGER) * 86400 + {_DAY_OFFSET}, acus_consumed "
            "FROM sessions WHERE acus_consumed > 0"
        )
    )
    op.create_table(
        "session_insights",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("analysis", _JSON, nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("session_id", name="uq_session_insights_session"),
    )
    op.create_table(
        "org_tags",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=256), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("org_id", "tag", name="uq_org_tags_org_tag"),
    )


def downgrade() -> None:
    op.drop_table("org_tags")
    op.drop_table("session_insights")
    op.drop_index("ix_acu_usage_org_day", table_name="acu_usage")
    op.drop_table("acu_usage")
