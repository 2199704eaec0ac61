"""Git connections (contract §10): one org's credentials for a git host, used by the runner to clone, push and
open pull requests. The token is encrypted at rest like a secret, never returned and never logged."""

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from codeyard.domain.ids import new_id
from codeyard.errors import ConflictError, FieldError, NotFoundError
from codeyard.services.clock import Clock, system_clock
from codeyard.services.crypto import Vault
from codeyard.services.pagination import MAX_PAGE, Page, decode_cursor, encode_cursor
from codeyard.storage.db import Database
from codeyard.storage.tables import GitConnection

KINDS = ("github", "gitlab", "gitea", "generic")
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,252}[a-z0-9])?(?::[0-9]{1,5})?$")
_TOKEN = re.compile(r"^[\x21-\x7e]{1,4096}$")
_USERNAME = re.compile(r"^[^\s:@/\x00-\x1f\x7f]{1,255}$")


@dataclass(frozen=True)
class ConnectionSpec:
    host: str | None = None
    kind: str | None = None
    api_url: str | None = None
    username: str | None = None
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Credentials:
    """A decrypted connection for the runner. ``repr`` leaves the token out, so no log line can carry it."""

    connection_id: str
    host: str
    kind: str
    api_url: str | None
    username: str | None
    token: str = field(repr=False)


def normalize_host(value: str) -> str:
    """``host[:port]`` in lower case; a URL is reduced to its host (its credentials dropped)."""
    value = value.strip().lower()
    if "://" in value:
        parts = urlsplit(value)
        value = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    value = value.rstrip("/")
    if not _HOST.match(value):
        raise FieldError("host", "the host must be a host name with an optional port, such as github.com")
    return value


def check_token(value: object) -> str:
    """The token as printable ASCII without spaces: it travels in an HTTP header, so a line break would inject one.
    Checked here rather than by the request schema, whose 422 would echo the rejected value."""
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise FieldError("token", "the token must be 1 to 4096 printable ASCII characters without spaces")
    return value


def _check_api_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise FieldError("api_url", "api_url must be an http(s) URL without credentials")
    return value


def _check_kind(value: str) -> str:
    if value not in KINDS:
        raise FieldError("kind", f"kind must be one of {', '.join(KINDS)}")
    return value


def _check_username(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _USERNAME.match(value):
        raise FieldError("username", "the username must be 1 to 255 characters without spaces, ':', '@' or '/'")
    return value


class GitConnections:
    def __init__(self, db: Database, vault: Vault, clock: Clock = system_clock) -> None:
        self.db = db
        self.vault = vault
        self.clock = clock

    async def list_connections(self, org_id: str, *, after: str | None, first: int) -> Page[GitConnection]:
        cursor = decode_cursor(after)
        first = min(first, MAX_PAGE)
        query = select(GitConnection).where(GitConnection.org_id == org_id)
        async with self.db.read() as s:
            total = await s.scalar(select(func.count()).select_from(query.subquery()))
            if cursor is not None:
                query = query.where(GitConnection.pk < cursor)
            rows = list(await s.scalars(query.order_by(GitConnection.pk.desc()).limit(first + 1)))
        has_next = len(rows) > first
        rows = rows[:first]
        return Page(rows, encode_cursor(rows[-1].pk) if has_next and rows else None, has_next, total)

    async def get(self, org_id: str, connection_id: str) -> GitConnection:
        async with self.db.read() as s:
            return await self._load(s, org_id, connection_id)

    async def create(self, actor_id: str, org_id: str, spec: ConnectionSpec) -> GitConnection:
        host = normalize_host(spec.host or "")
        kind = _check_kind(spec.kind or "generic")
        ciphertext = self.vault.encrypt(check_token(spec.token).encode())
        now = self.clock()
        row = GitConnection(
            id=new_id("gitconn"),
            org_id=org_id,
            host=host,
            kind=kind,
            api_url=_check_api_url(spec.api_url),
            username=_check_username(spec.username),
            token=ciphertext,
            created_by=actor_id,
            created_at=now,
            updated_at=now,
        )
        async with self.db.write() as s:
            await self._free(s, org_id, host, None)
            s.add(row)
        return row

    async def update(self, org_id: str, connection_id: str, spec: ConnectionSpec, fields: set[str]) -> GitConnection:
        """Change the fields the request named (``fields``); a named ``None`` clears an optional one."""
        async with self.db.write() as s:
            row = await self._load(s, org_id, connection_id)
            if "host" in fields:
                host = normalize_host(spec.host or "")
                await self._free(s, org_id, host, row.id)
                row.host = host
            if "kind" in fields:
                row.kind = _check_kind(spec.kind or "")
            if "api_url" in fields:
                row.api_url = _check_api_url(spec.api_url)
            if "username" in fields:
                row.username = _check_username(spec.username)
            if "token" in fields:
                row.token = self.vault.encrypt(check_token(spec.token).encode())
            row.updated_at = self.clock()
        return row

    async def delete(self, org_id: str, connection_id: str) -> GitConnection:
        async with self.db.write() as s:
            row = await self._load(s, org_id, connection_id)
            await s.delete(row)
        return row

    async def for_host(self, org_id: str, host: str) -> Credentials | None:
        """The org's connection for ``host``, decrypted, or ``None``."""
        async with self.db.read() as s:
            row = await s.scalar(
                select(GitConnection).where(GitConnection.org_id == org_id, GitConnection.host == host.lower())
            )
        return None if row is None else self._credentials(row)

    async def for_org(self, org_id: str) -> dict[str, Credentials]:
        """Every connection of the org by host, decrypted (for a session's clones and pushes)."""
        async with self.db.read() as s:
            rows = list(await s.scalars(select(GitConnection).where(GitConnection.org_id == org_id)))
        return {row.host: self._credentials(row) for row in rows}

    async def credentials(self, org_id: str, connection_id: str) -> Credentials | None:
        async with self.db.read() as s:
            row = await s.scalar(
                select(GitConnection).where(GitConnection.org_id == org_id, GitConnection.id == connection_id)
            )
        return None if row is None else self._credentials(row)

    def _credentials(self, row: GitConnection) -> Credentials:
        token = self.vault.decrypt(row.token).decode()
        return Credentials(row.id, row.host, row.kind, row.api_url, row.username, token)

    @staticmethod
    async def _free(s: AsyncSession, org_id: str, host: str, own_id: str | None) -> None:
        taken = await s.scalar(
            select(GitConnection.id).where(GitConnection.org_id == org_id, GitConnection.host == host).limit(1)
        )
        if taken is not None and taken != own_id:
            raise ConflictError(f"a git connection for {host} already exists ({taken})")

    @staticmethod
    async def _load(s: AsyncSession, org_id: str, connection_id: str) -> GitConnection:
        row = await s.scalar(
            select(GitConnection).where(GitConnection.id == connection_id, GitConnection.org_id == org_id)
        )
        if row is None:
            raise NotFoundError(f"git connection {connection_id[:80]} not found")
        return row
