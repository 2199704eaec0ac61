"""`client.attachments`: upload files for sessions and download files by their signed links."""

import mimetypes
from pathlib import Path
from typing import BinaryIO

from codeyard.sdk._request import Call, FileField, content, model
from codeyard.sdk.resources._base import AsyncResource, SyncResource
from codeyard.sdk.types import Attachment

FileInput = Path | bytes | BinaryIO


def _upload(file: FileInput, name: str | None, content_type: str | None) -> Call[Attachment]:
    # Read the whole file so a retried request (connection refused, 429, 503) can send it again.
    filename: str | None
    if isinstance(file, Path):
        data, filename = file.read_bytes(), name or file.name
    elif isinstance(file, bytes):
        data, filename = file, name
    else:
        data, filename = file.read(), name or _stream_name(file)
    if not filename:
        raise ValueError("name= is required when the file has no name of its own")
    guessed = mimetypes.guess_type(filename)[0]
    part = FileField(filename, data, content_type or guessed or "application/octet-stream")
    return Call("POST", "/attachments", model(Attachment), files={"file": part})


def _stream_name(file: BinaryIO) -> str | None:
    name = getattr(file, "name", None)
    return Path(name).name if isinstance(name, str) else None


def _download(url: str) -> Call[bytes]:
    # Signed links carry their own authorization; ClientOptions adds the key only to URLs of the API itself.
    return Call("GET", url, content, url=url)


class Attachments(SyncResource):
    def upload(self, file: FileInput, name: str | None = None, content_type: str | None = None) -> Attachment:
        """Upload a file; pass the returned `url` in `attachment_urls` (or as `ATTACHMENT:"<url>"`)."""
        return self._run(_upload(file, name, content_type))

    def download(self, url: str) -> bytes:
        """Fetch a file by its signed link (or by its API URL, which redirects to one)."""
        return self._run(_download(url))


class AsyncAttachments(AsyncResource):
    async def upload(self, file: FileInput, name: str | None = None, content_type: str | None = None) -> Attachment:
        """Upload a file; pass the returned `url` in `attachment_urls` (or as `ATTACHMENT:"<url>"`)."""
        return await self._run(_upload(file, name, content_type))

    async def download(self, url: str) -> bytes:
        """Fetch a file by its signed link (or by its API URL, which redirects to one)."""
        return await self._run(_download(url))
