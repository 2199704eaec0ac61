"""Storage: the SQLAlchemy engine, tables and Alembic migrations.

May import ``codeyard.domain``, ``codeyard.errors`` and ``codeyard.config``; nothing above it.
"""
