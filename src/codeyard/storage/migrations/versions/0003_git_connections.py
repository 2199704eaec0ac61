"""git connections, session repos and pull requests

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "git_connections",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("api_url", sa.String(length=1024), nullable=True),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint("org_id", "host", name="uq_git_connections_org_host"),
    )
    with op.batch_alter_table("git_connections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_git_connections_org_id"), ["org_id"], unique=False)

    op.create_table(
        "session_repos",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("directory", sa.String(length=255), nullable=False),
        sa.Column("base_sha", sa.String(length=64), nullable=False),
        sa.Column("base_branch", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"]),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("session_id", "position"),
    )
    with op.batch_alter_table("session_repos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_repos_session_id"), ["session_id"], unique=False)

    op.create_table(
        "pull_requests",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("repo", sa.Text(), nullable=False),
        sa.Column("connection_id", sa.String(length=64), nullable=True),
        sa.Column("project", sa.String(length=512), nullable=False),
        sa.Column("branch", sa.String(length=255), nullable=False),
        sa.Column("base", sa.String(length=255), nullable=True),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("head_sha", sa.String(length=64), nullable=False),
        sa.Column("checked_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"]),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint("session_id", "repo"),
    )
    with op.batch_alter_table("pull_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pull_requests_session_id"), ["session_id"], unique=False)
        batch_op.create_index("ix_pull_requests_state_checked", ["state", "checked_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pull_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_pull_requests_state_checked")
        batch_op.drop_index(batch_op.f("ix_pull_requests_session_id"))
    op.drop_table("pull_requests")
    with op.batch_alter_table("session_repos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_repos_session_id"))
    op.drop_table("session_repos")
    with op.batch_alter_table("git_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_git_connections_org_id"))
    op.drop_table("git_connections")
