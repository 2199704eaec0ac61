"""SQLite's cheap look for other connections' commits (``storage.notify.DataVersion``), which the event feed uses
instead of reading the events table on every poll."""

import sqlite3
from pathlib import Path

from codeyard.storage.notify import DataVersion


def test_it_changes_once_per_commit_of_another_connection_and_never_for_reads(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (v INTEGER)")
    look = DataVersion(str(path))
    try:
        assert not look.changed()
        writer.execute("INSERT INTO t VALUES (1)")
        assert look.changed()
        assert not look.changed(), "one change is reported once"
        writer.execute("SELECT count(*) FROM t").fetchone()
        writer.execute("BEGIN")
        writer.execute("INSERT INTO t VALUES (2)")
        assert not look.changed(), "nothing is committed yet"
        writer.execute("ROLLBACK")
        assert not look.changed(), "a rollback changes nothing"
    finally:
        look.close()
        writer.close()
