"""Statements of the hottest reads, compiled once, and the readers that run them (``Database.read_rows``).

On SQLite the reads run on the event loop, straight on the driver's cursor: SQLAlchemy Core's execution of a
statement (the compiled-cache lookup, parameter processing, the result's set-up, the connection's events) costs
several times what SQLite takes to answer a few indexed rows from the page cache (issue 12, "Hot reads"). What
SQLAlchemy does for these statements is kept: the SQL is its compilation for the engine's dialect, the literal
parameters (an ``IN`` list) are its values, and each column's value goes through the result processor of its type
(booleans, JSON). Only statements whose parameters need no bind processing are accepted (checked when they are
compiled). On PostgreSQL the same statements run through SQLAlchemy on a worker thread.
"""

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect


class Reader(Protocol):
    """What a read's ``work`` gets: run a prepared statement in the read's snapshot."""

    def rows(self, query: "Prepared", params: Mapping[str, Any] | None = None) -> Sequence[Any]:
        """Every row, each with its columns as attributes (like SQLAlchemy's ``Row``)."""
        ...


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    """The positional parameters in order."""
    required: frozenset[str]
    """Those the caller must give."""
    literals: dict[str, Any]
    """The values of the statement's own parameters (an ``IN`` list): the caller's are looked up first."""
    row: Callable[..., Any]
    processors: tuple[Callable[[Any], Any] | None, ...]


class Prepared:
    """A Core ``SELECT`` and its compilation per dialect (done once, on first use)."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._compiled: dict[tuple[type[Dialect], str], _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        key = (type(dialect), dialect.paramstyle)
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = _compile(self.statement, dialect)
        return found


def _compile(statement: Select[*tuple[Any, ...]], dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    names = tuple(compiled.positiontup or ())
    if any(compiled._bind_processors.get(name) is not None for name in names):
        raise TypeError(f"a prepared read cannot bind parameters that need processing: {names}")
    columns = compiled._result_columns
    processors = tuple(column.type._cached_result_processor(dialect, None) for column in columns)
    row = namedtuple("PreparedRow", [column.keyname for column in columns], rename=True)  # type: ignore[misc]
    required = frozenset(name for name in names if name in compiled.binds and compiled.binds[name].required)
    literals = {name: value for name, value in compiled.construct_params(_check=False).items() if name not in required}
    return _Compiled(str(compiled), names, required, literals, row, processors)


class CoreReader:
    """Runs the statements through SQLAlchemy on ``conn``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def rows(self, query: Prepared, params: Mapping[str, Any] | None = None) -> Sequence[Any]:
        return self.conn.execute(query.statement, dict(params or {})).all()


class SqliteReader:
    """Runs the statements on the ``sqlite3`` connection, compiled for ``dialect`` (the engine's)."""

    def __init__(self, conn: sqlite3.Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect

    def rows(self, query: Prepared, params: Mapping[str, Any] | None = None) -> Sequence[Any]:
        compiled = query.compiled(self.dialect)
        given = params or {}
        if missing := compiled.required - given.keys():
            raise KeyError(f"a value is required for the parameters {sorted(missing)}")
        args = [given[name] if name in given else compiled.literals[name] for name in compiled.names]
        fetched = self.conn.execute(compiled.sql, args).fetchall()
        make, processors = compiled.row, compiled.processors
        if not any(processors):
            return [make(*values) for values in fetched]
        return [
            make(
                *(
                    value if process is None else process(value)
                    for process, value in zip(processors, values, strict=True)
                )
            )
            for values in fetched
        ]
