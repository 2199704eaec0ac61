"""Attachments: upload, bearer download (307 to a signed link) and the signed link itself (contract §6)."""

from collections.abc import AsyncIterator
from urllib.parse import quote

from fastapi import APIRouter, Response, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse

from codeyard.api.deps import Caller, OrgId, ServicesDep, require
from codeyard.api.schemas.sessions import AttachmentUploadResponse
from codeyard.errors import NotFoundError
from codeyard.services.principal import Permission

router = APIRouter(tags=["attachments"])
public_router = APIRouter(tags=["attachments"])
_CHUNK = 1024 * 1024


@router.post("/attachments", response_model=AttachmentUploadResponse, dependencies=[require(Permission.USE_SESSIONS)])
async def upload_attachment(
    file: UploadFile, caller: Caller, org: OrgId, services: ServicesDep
) -> AttachmentUploadResponse:
    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await file.read(_CHUNK):
            yield chunk

    row = await services.attachments.store(
        org, file.filename, file.content_type, chunks(), created_by=caller.service_user_id
    )
    return AttachmentUploadResponse(attachment_id=row.id, name=row.name, url=services.attachments.signed_url(row))


@router.get(
    "/attachments/{attachment_id}/{name}",
    status_code=307,
    response_class=RedirectResponse,
    dependencies=[require(Permission.VIEW_SESSIONS)],
)
async def download_attachment(attachment_id: str, name: str, org: OrgId, services: ServicesDep) -> RedirectResponse:
    row = await services.attachments.get(org, attachment_id)
    if row.name != name:
        raise NotFoundError(f"attachment {attachment_id} has no file named {name[:80]!r}")
    return RedirectResponse(services.attachments.signed_url(row), status_code=307)


@public_router.get("/files/{attachment_id}/{name}", response_class=FileResponse, include_in_schema=False)
async def signed_download(
    attachment_id: str, name: str, services: ServicesDep, expires: str = "", signature: str = ""
) -> Response:
    stored = await services.attachments.open_signed(attachment_id, name, expires, signature)
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, max-age=60",
    }
    media_type = stored.attachment.content_type or "application/octet-stream"
    if stored.path is not None:
        if not stored.path.is_file():
            raise NotFoundError("the attachment's file is missing from the server")
        return FileResponse(
            stored.path,
            filename=stored.attachment.name,
            media_type=media_type,
            content_disposition_type="attachment",
            headers=headers,
        )
    body = await services.attachments.open_stream(stored)
    headers["Content-Disposition"] = f"attachment; filename*=utf-8''{quote(stored.attachment.name, safe='')}"
    headers["Content-Length"] = str(stored.attachment.size)
    return StreamingResponse(body, media_type=media_type, headers=headers)
