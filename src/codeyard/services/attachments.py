"""Attachment files: stored in the blob store by UUID, handed out as signed expiring links (contract §6).

The links are codeyard's own (``/files/<uuid>/<name>?expires=&signature=``): the API checks them and serves the
blob, from the data dir or streamed from an S3-compatible store, so links look and behave the same on both.
"""

import hashlib
import os
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from codeyard.errors import FieldError, LinkError, NotFoundError, PayloadTooLargeError
from codeyard.services.clock import Clock, system_clock
from codeyard.services.crypto import Vault
from codeyard.storage.blobs import BlobNotFoundError, BlobStore
from codeyard.storage.db import Database
from codeyard.storage.tables import Attachment, SessionAttachment

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_URL_PATH = re.compile(rf"/(?:files|attachments)/(?P<id>{_UUID})/(?P<name>[^/]+)$")
ATTACHMENT_LINE = re.compile(r'\s*ATTACHMENT:\s*"(?P<url>[^"\r\n]{1,4096})"\s*')
"""One line (``fullmatch``) that names an attachment; applied per line, never across a whole text."""


def attachment_line_urls(text: str) -> list[str]:
    """The URLs of the text's ``ATTACHMENT:"<url>"`` lines, found line by line (linear in the text: a pattern
    over the whole text with ``MULTILINE`` was quadratic in its newlines)."""
    urls: list[str] = []
    for line in text.splitlines():
        if "ATTACHMENT:" in line:
            match = ATTACHMENT_LINE.fullmatch(line)
            if match is not None:
                urls.append(match["url"])
    return urls


_CHUNK = 1024 * 1024


def safe_name(name: str | None) -> str:
    """A file name that is safe on disk and in a URL: no directories, no control characters, at most 200 bytes."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|')
    base = base.strip().lstrip(".") or "attachment"
    while len(base.encode()) > 200:
        base = base[:-1]
    return base


@dataclass(frozen=True)
class StoredFile:
    attachment: Attachment
    key: str
    path: Path | None
    """The file on this machine's disk when the blob store keeps it there (the data dir); else stream ``key``."""


class Attachments:
    def __init__(
        self,
        db: Database,
        vault: Vault,
        blobs: BlobStore,
        data_dir: Path,
        public_url: str,
        *,
        max_bytes: int,
        link_ttl: int,
        clock: Clock = system_clock,
    ) -> None:
        self.db = db
        self.vault = vault
        self.blobs = blobs
        self.spool = data_dir / "tmp"
        self.cache = data_dir / "blob-cache"
        self.public_url = public_url
        self.max_bytes = max_bytes
        self.link_ttl = link_ttl
        self.clock = clock

    @staticmethod
    def key_of(attachment: Attachment) -> str:
        return f"attachments/{attachment.org_id}/{attachment.id}"

    async def local_file(self, attachment: Attachment) -> Path:
        """The attachment as a file on this machine: in place for the data dir, else fetched once into a cache."""
        key = self.key_of(attachment)
        path = self.blobs.local_path(key)
        if path is not None:
            return path
        cached = self.cache / attachment.org_id / attachment.id
        if not cached.exists():
            cached.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial = cached.with_name(f".{attachment.id}.{secrets.token_hex(6)}.part")
            try:
                await self.blobs.get_file(key, partial)
                partial.replace(cached)
            finally:
                partial.unlink(missing_ok=True)
        return cached

    # -- links -----------------------------------------------------------------------------------------
    def signed_url(self, attachment: Attachment, ttl: int | None = None) -> str:
        expires = int(self.clock()) + (ttl or self.link_ttl)
        name = quote(attachment.name, safe="")
        sig = self.vault.sign(f"{attachment.id}/{attachment.name}/{expires}")
        return f"{self.public_url}/files/{attachment.id}/{name}?expires={expires}&signature={sig}"

    async def open_signed(self, attachment_id: str, name: str, expires: str, signature: str) -> StoredFile:
        """The file behind a signed link; ``LinkError`` (403) when the link was altered or has expired."""
        if not (expires.isascii() and expires.isdigit()) or not re.fullmatch(_UUID, attachment_id):
            raise LinkError("the download link is invalid")
        self.vault.verify(f"{attachment_id}/{name}/{expires}", signature)
        if int(expires) < self.clock():
            raise LinkError("the download link has expired")
        async with self.db.read() as s:
            row = await s.scalar(select(Attachment).where(Attachment.id == attachment_id))
        if row is None or row.name != name:
            raise NotFoundError("attachment not found")
        key = self.key_of(row)
        return StoredFile(row, key, self.blobs.local_path(key))

    async def open_stream(self, stored: StoredFile) -> AsyncIterator[bytes]:
        """The blob's bytes; ``NotFoundError`` now (before a response starts) when the blob is missing."""
        chunks = self.blobs.stream(stored.key)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = b""
        except BlobNotFoundError as exc:
            raise NotFoundError("the attachment's file is missing from the blob store") from exc

        async def body() -> AsyncIterator[bytes]:
            yield first
            async for chunk in chunks:
                yield chunk

        return body()

    # -- upload ----------------------------------------------------------------------------------------
    async def store(
        self,
        org_id: str,
        name: str | None,
        content_type: str | None,
        chunks: AsyncIterator[bytes],
        *,
        source: str = "user",
        created_by: str | None = None,
    ) -> Attachment:
        attachment_id = str(uuid.uuid4())
        self.spool.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.spool / f"{attachment_id}.part"
        digest = hashlib.sha256()
        size = 0
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise PayloadTooLargeError(f"the file is larger than the limit of {self.max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
            await self.blobs.put_file(f"attachments/{org_id}/{attachment_id}", partial)
        finally:
            partial.unlink(missing_ok=True)
        row = Attachment(
            id=attachment_id,
            org_id=org_id,
            name=safe_name(name),
            content_type=(content_type or None) and content_type[:255],
            size=size,
            sha256=digest.hexdigest(),
            source=source,
            created_by=created_by,
            created_at=self.clock(),
        )
        try:
            async with self.db.write() as s:
                s.add(row)
        except BaseException:
            await self.blobs.delete(self.key_of(row))
            raise
        return row

    async def store_bytes(
        self,
        org_id: str,
        name: str,
        data: bytes,
        content_type: str | None,
        *,
        source: str,
        created_by: str | None = None,
    ) -> Attachment:
        async def one() -> AsyncIterator[bytes]:
            for i in range(0, len(data), _CHUNK):
                yield data[i : i + _CHUNK]

        return await self.store(org_id, name, content_type, one(), source=source, created_by=created_by)

    # -- lookup ----------------------------------------------------------------------------------------
    async def get(self, org_id: str, attachment_id: str) -> Attachment:
        async with self.db.read() as s:
            row = await s.scalar(select(Attachment).where(Attachment.id == attachment_id, Attachment.org_id == org_id))
        if row is None:
            raise NotFoundError(f"attachment {attachment_id} not found")
        return row

    async def resolve_urls(self, s: AsyncSession, org_id: str, urls: list[str], field: str) -> list[Attachment]:
        """Attachments of this org named by upload URLs (signed links or API paths); others → a 422 on ``field``."""
        found: list[Attachment] = []
        for url in urls:
            match = _URL_PATH.search(urlsplit(url).path)
            if match is None:
                raise FieldError(field, f"{url[:200]!r} is not an attachment URL of this server")
            row = await s.scalar(select(Attachment).where(Attachment.id == match["id"], Attachment.org_id == org_id))
            if row is None or row.name != unquote(match["name"]):
                raise FieldError(field, f"attachment {match['id']} not found")
            found.append(row)
        return found

    async def link(self, s: AsyncSession, session_id: str, attachments: list[Attachment], source: str) -> None:
        for att in attachments:
            exists = await s.scalar(
                select(SessionAttachment.pk).where(
                    SessionAttachment.session_id == session_id, SessionAttachment.attachment_id == att.id
                )
            )
            if exists is None:
                s.add(
                    SessionAttachment(
                        session_id=session_id, attachment_id=att.id, source=source, created_at=self.clock()
                    )
                )

    async def for_session(self, session_id: str) -> list[tuple[Attachment, str]]:
        async with self.db.read() as s:
            rows = await s.execute(
                select(Attachment, SessionAttachment.source)
                .join(SessionAttachment, SessionAttachment.attachment_id == Attachment.id)
                .where(SessionAttachment.session_id == session_id)
                .order_by(SessionAttachment.pk)
            )
            return [(att, source) for att, source in rows]
