"""The blob store: attachment files (handoff bundles among them) and workspace checkpoints, by key.

Two implementations of one small interface, chosen by ``CODEYARD_BLOB_URL``:

- ``LocalBlobs`` (the default, the data dir): one file per key under the root, written to a temporary file and
  renamed, mode 0600 in 0700 directories; keys are checked and never leave the root, symlinks are not followed.
- ``S3Blobs`` (``s3://bucket/prefix``): any S3-compatible store through ``obstore`` (AWS, MinIO, R2, Ceph),
  with ``CODEYARD_S3_ENDPOINT_URL``, ``CODEYARD_S3_REGION``, ``CODEYARD_S3_ACCESS_KEY_ID`` and
  ``CODEYARD_S3_SECRET_ACCESS_KEY`` (else the usual ``AWS_*`` variables).

Keys are ``/``-separated names of ASCII letters, digits, ``.``, ``_`` and ``-`` (``attachments/<org>/<uuid>``,
``checkpoints/<session>/<step>.tar.gz``). Signed download links stay codeyard's own: the API checks the
signature and streams the blob, so the store needs no public access and links look the same on both.
"""

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from codeyard.config import Settings, SettingsError

_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}){0,7}$")
CHUNK = 1024 * 1024


class BlobNotFoundError(LookupError):
    """No blob is stored under that key."""


def check_key(key: str) -> str:
    """``key`` when it is a well-formed blob key (no ``..``, no leading ``.`` or ``/``), else ``ValueError``."""
    if not _KEY.fullmatch(key) or any(part.startswith(".") for part in key.split("/")):
        raise ValueError(f"invalid blob key {key[:100]!r}")
    return key


class BlobStore(Protocol):
    async def put_file(self, key: str, source: Path) -> None:
        """Store the file at ``source`` under ``key`` (replacing any blob there)."""

    async def put_bytes(self, key: str, data: bytes) -> None: ...

    async def get_file(self, key: str, target: Path) -> None:
        """Write the blob to ``target`` (a new file, 0600); ``BlobNotFoundError`` when absent."""

    def stream(self, key: str) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks; ``BlobNotFoundError`` on the first read when absent."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the blob; absent is fine."""

    async def ping(self) -> None:
        """Raise when the store cannot be reached (``/readyz``)."""

    def local_path(self, key: str) -> Path | None:
        """Where the blob lies on this machine's disk, for a store that keeps it there; ``None`` otherwise."""


class LocalBlobs:
    """Blobs as files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _safe_parent(self, path: Path) -> None:
        """Create the directories up to ``path`` (0700), refusing any that is a symlink."""
        self.root.mkdir(parents=True, exist_ok=True)
        current = self.root
        for part in path.relative_to(self.root).parts[:-1]:
            current = current / part
            if current.is_symlink():
                raise ValueError(f"blob directory {current} is a symlink")
            current.mkdir(mode=0o700, exist_ok=True)

    def _write(self, key: str, source: Path | None, data: bytes | None) -> None:
        path = self._path(key)
        self._safe_parent(path)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                if data is not None:
                    out.write(data)
                else:
                    assert source is not None
                    with open(source, "rb") as src:
                        while chunk := src.read(CHUNK):
                            out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _open(self, key: str) -> int:
        path = self._path(key)
        try:
            return os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise BlobNotFoundError(key) from exc

    async def put_file(self, key: str, source: Path) -> None:
        await asyncio.to_thread(self._write, key, source, None)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, key, None, data)

    async def get_file(self, key: str, target: Path) -> None:
        def copy() -> None:
            with os.fdopen(self._open(key), "rb") as src:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)

        await asyncio.to_thread(copy)

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        src = os.fdopen(await asyncio.to_thread(self._open, key), "rb")
        try:
            while chunk := await asyncio.to_thread(src.read, CHUNK):
                yield chunk
        finally:
            src.close()

    async def exists(self, key: str) -> bool:
        path = self._path(key)
        return path.is_file() and not path.is_symlink()

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def ping(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise PermissionError(f"{self.root} is not writable")

        await asyncio.to_thread(probe)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return None if path.is_symlink() else path


class S3Blobs:
    """Blobs in an S3-compatible bucket, under ``prefix``."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        from obstore.store import S3Store

        config: dict[str, str] = {}
        if endpoint:
            config["endpoint"] = endpoint
        if region:
            config["region"] = region
        if access_key_id:
            config["access_key_id"] = access_key_id
        if secret_access_key:
            config["secret_access_key"] = secret_access_key
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        allow_http = bool(endpoint and endpoint.startswith("http://"))
        self.store = S3Store(
            bucket,
            prefix=self.prefix or None,
            config=config,  # type: ignore[arg-type]
            client_options={"allow_http": allow_http, "timeout": "60s", "connect_timeout": "5s"},
        )

    async def put_file(self, key: str, source: Path) -> None:
        import obstore

        await obstore.put_async(self.store, check_key(key), source)

    async def put_bytes(self, key: str, data: bytes) -> None:
        import obstore

        await obstore.put_async(self.store, check_key(key), data)

    async def _get(self, key: str) -> object:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            return await obstore.get_async(self.store, check_key(key))
        except (NotFoundError, FileNotFoundError) as exc:
            raise BlobNotFoundError(key) from exc

    async def get_file(self, key: str, target: Path) -> None:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            async for chunk in self.stream(key):
                await asyncio.to_thread(out.write, chunk)

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        result = await self._get(key)
        async for chunk in result.stream(min_chunk_size=CHUNK):  # type: ignore[attr-defined]
            yield bytes(chunk)

    async def exists(self, key: str) -> bool:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            await obstore.head_async(self.store, check_key(key))
        except (NotFoundError, FileNotFoundError):
            return False
        return True

    async def delete(self, key: str) -> None:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            await obstore.delete_async(self.store, check_key(key))
        except (NotFoundError, FileNotFoundError):
            pass

    async def ping(self) -> None:
        import obstore

        async def first_page() -> None:
            async for _ in obstore.list(self.store, chunk_size=1):
                break

        await asyncio.wait_for(first_page(), 10)

    def local_path(self, key: str) -> Path | None:
        return None


def open_blob_store(settings: Settings) -> BlobStore:
    """The store ``CODEYARD_BLOB_URL`` names: ``s3://bucket/prefix``, a directory, or (unset) the data dir."""
    url = settings.blob_url
    if not url:
        return LocalBlobs(settings.data_dir)
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise SettingsError(f"CODEYARD_BLOB_URL {url!r} names no bucket (s3://bucket/prefix)")
        return S3Blobs(
            parts.netloc,
            parts.path,
            endpoint=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        )
    if parts.scheme in ("", "file"):
        return LocalBlobs(Path(parts.path).expanduser())
    raise SettingsError(f"CODEYARD_BLOB_URL {url!r}: use s3://bucket/prefix or a directory")
