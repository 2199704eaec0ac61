"""Organization secrets (contract §7): values encrypted at rest with the server's key, handed to sessions as
environment variables, and never returned by the API nor written to a log."""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from codeyard.domain.ids import new_id
from codeyard.errors import ConflictError, FieldError, NotFoundError
from codeyard.services.clock import Clock, system_clock
from codeyard.services.crypto import Vault
from codeyard.services.pagination import MAX_PAGE, Page, decode_cursor, encode_cursor
from codeyard.storage.db import Database
from codeyard.storage.tables import Secret

KEY_FORMAT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")
KEY_RULE = (
    "the key becomes an environment variable name: it must start with a letter or '_', "
    "continue with letters, digits or '_' only, and be at most 256 characters (e.g. NPM_TOKEN)"
)
SECRET_TYPES = ("key-value", "cookie", "totp", "dictionary")
MAX_VALUE_BYTES = 64 * 1024


@dataclass(frozen=True)
class SecretSpec:
    key: str
    value: str = field(repr=False)
    secret_type: str = "key-value"
    is_sensitive: bool = True
    note: str | None = None


@dataclass(frozen=True)
class ResolvedSecret:
    """A decrypted secret for a session's environment. ``repr`` leaves the value out, so it cannot reach a log
    line or a traceback by accident."""

    key: str
    value: str = field(repr=False)
    is_sensitive: bool = True


def check_value(value: object) -> str:
    """The value as a string of at most 64 KiB (UTF-8). The API hands the raw value here instead of letting the
    request schema check it, because a schema error would echo the rejected value back in the 422 body."""
    if not isinstance(value, str):
        raise FieldError("value", "the value must be a string")
    if not value:
        raise FieldError("value", "the value must not be empty")
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise FieldError("value", f"the value is larger than {MAX_VALUE_BYTES} bytes (64 KiB)")
    if "\0" in value:
        raise FieldError("value", "the value must not contain a NUL character (it becomes an environment variable)")
    return value


class Secrets:
    def __init__(self, db: Database, vault: Vault, clock: Clock = system_clock) -> None:
        self.db = db
        self.vault = vault
        self.clock = clock

    async def list_secrets(self, org_id: str, *, after: str | None, first: int) -> Page[Secret]:
        """Newest first; the rows carry only the encrypted value."""
        cursor = decode_cursor(after)
        first = min(first, MAX_PAGE)
        query = select(Secret).where(Secret.org_id == org_id)
        async with self.db.read() as s:
            total = await s.scalar(select(func.count()).select_from(query.subquery()))
            if cursor is not None:
                query = query.where(Secret.pk < cursor)
            rows = list(await s.scalars(query.order_by(Secret.pk.desc()).limit(first + 1)))
        has_next = len(rows) > first
        rows = rows[:first]
        return Page(rows, encode_cursor(rows[-1].pk) if has_next and rows else None, has_next, total)

    async def create(self, actor_id: str, org_id: str, spec: SecretSpec) -> Secret:
        """Store a new secret; its key must be free in the org (409), since two values for one environment
        variable could not both reach a session."""
        if not KEY_FORMAT.fullmatch(spec.key):
            raise FieldError("key", KEY_RULE)
        if spec.secret_type not in SECRET_TYPES:
            raise FieldError("type", f"the type must be one of {', '.join(SECRET_TYPES)}")
        ciphertext = self.vault.encrypt(check_value(spec.value).encode())
        async with self.db.write() as s:
            taken = await s.scalar(select(Secret.id).where(Secret.org_id == org_id, Secret.key == spec.key).limit(1))
            if taken is not None:
                raise ConflictError(f"a secret with the key {spec.key} already exists ({taken})")
            row = Secret(
                id=new_id("secret"),
                org_id=org_id,
                key=spec.key,
                secret_type=spec.secret_type,
                value=ciphertext,
                is_sensitive=spec.is_sensitive,
                note=spec.note,
                access_type="org",
                created_by=actor_id,
                created_at=self.clock(),
            )
            s.add(row)
        return row

    async def delete(self, org_id: str, secret_id: str) -> Secret:
        """Remove the secret and return its metadata as it was."""
        async with self.db.write() as s:
            row = await self._load(s, org_id, secret_id)
            await s.delete(row)
        return row

    async def resolve(self, org_id: str, secret_ids: Sequence[str] | None) -> list[ResolvedSecret]:
        """The decrypted secrets a session gets, oldest first: ``None`` means every secret of the org, ``[]``
        none, and a list those of its ids that still exist in the org (a secret deleted since the session was
        created is skipped rather than failing the session)."""
        if secret_ids is not None and not secret_ids:
            return []
        query = select(Secret).where(Secret.org_id == org_id).order_by(Secret.pk)
        if secret_ids is not None:
            query = query.where(Secret.id.in_(set(secret_ids)))
        async with self.db.read() as s:
            rows = list(await s.scalars(query))
        return [ResolvedSecret(r.key, self.vault.decrypt(r.value).decode(), r.is_sensitive) for r in rows]

    @staticmethod
    async def _load(s: AsyncSession, org_id: str, secret_id: str) -> Secret:
        row = await s.scalar(select(Secret).where(Secret.id == secret_id, Secret.org_id == org_id))
        if row is None:
            raise NotFoundError(f"secret {secret_id[:80]} not found")
        return row
