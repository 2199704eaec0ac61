"""The v1 API (devin-api-reference §10; contract §11): thin routes over the same services as v3, v1 shapes.

A key of any kind works: an org key acts in its own org, an enterprise key in the org named by ``?org_id=``
or, without it, the first organization (the one created at bootstrap). Both ``/v1/sessions/{id}`` and the
singular ``/v1/session/{id}`` that many clients call are served.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, UploadFile
from fastapi.responses import RedirectResponse

from codeyard.api.deps import Caller, ServicesDep, StateDep, require
from codeyard.api.routes.sessions import start_session
from codeyard.api.schemas.knowledge import NoteWrite
from codeyard.api.schemas.playbooks import PlaybookWrite
from codeyard.api.schemas.secrets import SecretCreate
from codeyard.api.schemas.v1 import (
    StatusEnum,
    V1Deleted,
    V1Detail,
    V1Folder,
    V1Knowledge,
    V1Message,
    V1MessageCreate,
    V1Note,
    V1Playbook,
    V1PullRequest,
    V1Secret,
    V1Session,
    V1SessionCreate,
    V1SessionCreated,
    V1SessionDetail,
    V1SessionList,
    V1TagsBody,
)
from codeyard.errors import NotFoundError
from codeyard.services.container import Services
from codeyard.services.knowledge import Note, NoteSpec
from codeyard.services.pagination import MAX_PAGE, Page
from codeyard.services.playbooks import PlaybookSpec
from codeyard.services.principal import Permission, Principal
from codeyard.services.secrets import SecretSpec, check_value
from codeyard.services.sessions import MessageView, SessionFilters
from codeyard.storage.tables import AgentSessionRow, Playbook, Secret

router = APIRouter(prefix="/v1", tags=["v1"])
T = TypeVar("T")

_SECRET_FIELDS = {"session_secrets"}


async def v1_org(caller: Caller, services: ServicesDep, org_id: str | None = None) -> str:
    """The org a v1 call acts in (v1 paths carry no org)."""
    if caller.org_id is not None:
        return caller.org_id
    if org_id:
        return (await services.identity.get_org(org_id)).id
    orgs = await services.identity.list_orgs()
    if not orgs:
        raise NotFoundError("there is no organization to act in")
    return orgs[0].id


V1Org = Annotated[str, Depends(v1_org)]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def status_enum(row: AgentSessionRow) -> StatusEnum:
    """The v1 enumeration for a v3 status (devin-api-reference §10.5). A failed run is ``blocked``: it needs a
    person, and a message re-opens it."""
    if row.status in ("new", "claimed"):
        return "working"
    if row.status == "running":
        return {"waiting_for_user": "blocked", "waiting_for_approval": "blocked", "finished": "finished"}.get(
            row.status_detail or "", "working"
        )  # type: ignore[return-value]
    if row.status == "resuming":
        return "resume_requested"
    if row.status == "suspended":
        return "expired" if row.status_detail == "inactivity" else "suspend_requested"
    if row.status == "error":
        return "blocked"
    return "finished"


def v1_session(row: AgentSessionRow, public_url: str) -> dict[str, Any]:
    prs = row.pull_requests
    return {
        "session_id": row.id,
        "status": row.status,
        "status_enum": status_enum(row),
        "title": row.title,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "tags": list(row.tags),
        "playbook_id": row.playbook_id,
        "snapshot_id": row.request.get("snapshot_id"),
        "pull_request": V1PullRequest(url=prs[-1]["pr_url"]) if prs else None,
        "requesting_user_email": None,
        "structured_output": row.structured_output,
        "url": f"{public_url}/sessions/{row.id.removeprefix('devin-')}",
    }


def v1_message(row: MessageView, first_id: str | None) -> V1Message:
    kind = "devin_message" if row.source == "devin" else "user_message"
    if row.id == first_id:
        kind = "initial_user_message"
    return V1Message(
        type=kind,
        message=row.message,
        timestamp=iso(row.created_at),
        event_id=row.id,
        origin="api" if row.source == "user" else None,
    )


async def collect(fetch: Callable[[str | None], Awaitable[Page[T]]], limit: int) -> list[T]:
    """Walk a cursor-paginated service call until ``limit`` items (v1 lists take offsets, not cursors)."""
    items: list[T] = []
    after: str | None = None
    while len(items) < limit:
        page = await fetch(after)
        items.extend(page.items)
        if not page.has_next_page or page.end_cursor is None:
            break
        after = page.end_cursor
    return items[:limit]


async def pages(fetch: Callable[[str | None], Awaitable[Page[T]]]) -> AsyncIterator[T]:
    after: str | None = None
    while True:
        page = await fetch(after)
        for item in page.items:
            yield item
        if not page.has_next_page or page.end_cursor is None:
            return
        after = page.end_cursor


# -- sessions ---------------------------------------------------------------------------------------------------
@router.post("/sessions", response_model=V1SessionCreated, response_model_exclude_none=True)
async def v1_create_session(body: V1SessionCreate, caller: Caller, org: V1Org, state: StateDep) -> V1SessionCreated:
    caller.require(Permission.MANAGE_SESSIONS)
    services = state.services
    public = state.settings.resolved_public_url
    if body.idempotent:
        existing = await services.sessions.find_same_prompt(org, caller.service_user_id, body.prompt)
        if existing is not None:
            return V1SessionCreated(
                session_id=existing.id, url=v1_session(existing, public)["url"], is_new_session=False
            )
    row = await start_session(body, caller, org, state, recorded={"api_version": "v1"})
    return V1SessionCreated(
        session_id=row.id, url=v1_session(row, public)["url"], is_new_session=True if body.idempotent else None
    )


@router.get("/sessions", response_model=V1SessionList)
async def v1_list_sessions(
    caller: Caller,
    org: V1Org,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    skip: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    tags: Annotated[list[str] | None, Query()] = None,
    user_email: str | None = None,
) -> V1SessionList:
    caller.require(Permission.VIEW_SESSIONS)
    start = skip if skip is not None and not offset else offset
    filters = SessionFilters(tags=[t for value in tags or [] for t in value.split(",") if t])
    del user_email  # v1 filters by a person's e-mail; codeyard has service users only, so no session matches one

    async def fetch(after: str | None) -> Page[AgentSessionRow]:
        return await state.services.sessions.list_sessions(org, filters, after=after, first=MAX_PAGE)

    rows = await collect(fetch, start + limit)
    public = state.settings.resolved_public_url
    return V1SessionList(sessions=[V1Session(**v1_session(r, public)) for r in rows[start:]])


async def _detail(org: str, session_id: str, state: StateDep) -> V1SessionDetail:
    services = state.services
    row = await services.sessions.get(org, session_id)

    async def fetch(after: str | None) -> Page[MessageView]:
        return await services.sessions.messages(org, row.id, after=after, first=MAX_PAGE)

    messages = await collect(fetch, 5000)
    first_user = next((m.id for m in messages if m.source == "user"), None)
    return V1SessionDetail(
        **v1_session(row, state.settings.resolved_public_url),
        messages=[v1_message(m, first_user) for m in messages],
    )


@router.get("/sessions/{session_id}", response_model=V1SessionDetail)
async def v1_get_session(session_id: str, caller: Caller, org: V1Org, state: StateDep) -> V1SessionDetail:
    caller.require(Permission.VIEW_SESSIONS)
    return await _detail(org, session_id, state)


@router.get("/session/{session_id}", response_model=V1SessionDetail, include_in_schema=False)
async def v1_get_session_singular(session_id: str, caller: Caller, org: V1Org, state: StateDep) -> V1SessionDetail:
    caller.require(Permission.VIEW_SESSIONS)
    return await _detail(org, session_id, state)


async def _send(caller: Principal, org: str, session_id: str, message: str, services: Services) -> V1Detail:
    caller.require(Permission.MANAGE_SESSIONS)
    await services.sessions.send_message(caller, org, session_id, message)
    return V1Detail(detail="message sent")


@router.post("/sessions/{session_id}/message", response_model=V1Detail)
async def v1_send_message(
    session_id: str, body: V1MessageCreate, caller: Caller, org: V1Org, services: ServicesDep
) -> V1Detail:
    return await _send(caller, org, session_id, body.message, services)


@router.post("/session/{session_id}/message", response_model=V1Detail, include_in_schema=False)
async def v1_send_message_singular(
    session_id: str, body: V1MessageCreate, caller: Caller, org: V1Org, services: ServicesDep
) -> V1Detail:
    return await _send(caller, org, session_id, body.message, services)


@router.put("/sessions/{session_id}/tags", response_model=V1Detail)
async def v1_replace_tags(
    session_id: str, body: V1TagsBody, caller: Caller, org: V1Org, services: ServicesDep
) -> V1Detail:
    caller.require(Permission.MANAGE_SESSIONS)
    tags = await services.sessions.set_tags(org, session_id, body.tags, append=False)
    return V1Detail(detail=f"tags updated: {', '.join(tags) or '(none)'}")


@router.delete("/sessions/{session_id}", response_model=V1Detail)
async def v1_terminate_session(session_id: str, caller: Caller, org: V1Org, services: ServicesDep) -> V1Detail:
    caller.require(Permission.MANAGE_SESSIONS)
    row = await services.sessions.terminate(org, session_id)
    return V1Detail(detail=f"session {row.id} terminated")


# -- attachments ------------------------------------------------------------------------------------------------
@router.post("/attachments", response_model=str)
async def v1_upload_attachment(file: UploadFile, caller: Caller, org: V1Org, services: ServicesDep) -> str:
    """The signed URL of the stored file as a bare JSON string, to be used as ``ATTACHMENT:"<url>"``."""
    caller.require(Permission.USE_SESSIONS)

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await file.read(1024 * 1024):
            yield chunk

    row = await services.attachments.store(
        org, file.filename, file.content_type, chunks(), created_by=caller.service_user_id
    )
    return services.attachments.signed_url(row)


@router.get("/attachments/{attachment_id}/{name}", status_code=307, response_class=RedirectResponse)
async def v1_download_attachment(
    attachment_id: str, name: str, caller: Caller, org: V1Org, services: ServicesDep
) -> RedirectResponse:
    caller.require(Permission.VIEW_SESSIONS)
    row = await services.attachments.get(org, attachment_id)
    if row.name != name:
        raise NotFoundError(f"attachment {attachment_id} has no file named {name[:80]!r}")
    return RedirectResponse(services.attachments.signed_url(row), status_code=307)


# -- knowledge --------------------------------------------------------------------------------------------------
def v1_note(note: Note) -> V1Note:
    return V1Note(
        id=note.note_id,
        name=note.name,
        body=note.body,
        trigger_description=note.trigger,
        parent_folder_id=note.folder_id,
        pinned_repo=note.pinned_repo,
        macro=note.macro,
        created_at=iso(note.created_at),
        created_by=None,
    )


def _note_spec(body: NoteWrite) -> NoteSpec:
    return NoteSpec(
        name=body.name,
        body=body.body,
        trigger=body.trigger,
        folder_id=body.folder_id,
        is_enabled=True if body.is_enabled is None else body.is_enabled,
        pinned_repo=body.pinned_repo,
        macro=body.macro,
    )


@router.get("/knowledge", response_model=V1Knowledge)
async def v1_list_knowledge(caller: Caller, org: V1Org, services: ServicesDep) -> V1Knowledge:
    caller.require(Permission.READ_KNOWLEDGE)

    async def fetch(after: str | None) -> Page[Note]:
        return await services.knowledge.list_notes(org, after=after, first=MAX_PAGE)

    notes = [v1_note(n) async for n in pages(fetch)]
    tree = await services.knowledge.folders(org)
    return V1Knowledge(
        knowledge=notes, folders=[V1Folder(id=f.folder_id, name=f.name, description=f.path) for f in tree.folders]
    )


@router.post("/knowledge", response_model=V1Note)
async def v1_create_note(body: NoteWrite, caller: Caller, org: V1Org, services: ServicesDep) -> V1Note:
    caller.require(Permission.MANAGE_KNOWLEDGE)
    return v1_note(await services.knowledge.create(org, _note_spec(body)))


@router.put("/knowledge/{note_id}", response_model=V1Note)
async def v1_replace_note(note_id: str, body: NoteWrite, caller: Caller, org: V1Org, services: ServicesDep) -> V1Note:
    caller.require(Permission.MANAGE_KNOWLEDGE)
    return v1_note(await services.knowledge.replace(org, note_id, _note_spec(body)))


@router.delete("/knowledge/{note_id}", response_model=V1Deleted)
async def v1_delete_note(note_id: str, caller: Caller, org: V1Org, services: ServicesDep) -> V1Deleted:
    caller.require(Permission.MANAGE_KNOWLEDGE)
    note = await services.knowledge.delete(org, note_id)
    return V1Deleted(message=f"knowledge {note.note_id} deleted")


# -- playbooks --------------------------------------------------------------------------------------------------
def v1_playbook(row: Playbook) -> V1Playbook:
    return V1Playbook(
        playbook_id=row.id,
        title=row.title,
        body=row.body,
        access_type=row.access_type,
        org_id=row.org_id,
        macro=row.macro,
        created_by_user_id=row.created_by,
        updated_by_user_id=row.updated_by,
        created_at=iso(row.created_at),
        updated_at=iso(row.updated_at),
    )


@router.get("/playbooks", response_model=list[V1Playbook])
async def v1_list_playbooks(caller: Caller, org: V1Org, services: ServicesDep) -> list[V1Playbook]:
    caller.require(Permission.READ_PLAYBOOKS)

    async def fetch(after: str | None) -> Page[Playbook]:
        return await services.playbooks.list_playbooks(org, after=after, first=MAX_PAGE)

    return [v1_playbook(p) async for p in pages(fetch)]


@router.post("/playbooks", response_model=V1Playbook)
async def v1_create_playbook(body: PlaybookWrite, caller: Caller, org: V1Org, services: ServicesDep) -> V1Playbook:
    caller.require(Permission.MANAGE_PLAYBOOKS)
    spec = PlaybookSpec(title=body.title, body=body.body, macro=body.macro)
    return v1_playbook(await services.playbooks.create(caller.service_user_id, org, spec))


@router.get("/playbooks/{playbook_id}", response_model=V1Playbook)
async def v1_get_playbook(playbook_id: str, caller: Caller, org: V1Org, services: ServicesDep) -> V1Playbook:
    caller.require(Permission.READ_PLAYBOOKS)
    return v1_playbook(await services.playbooks.get(org, playbook_id))


@router.put("/playbooks/{playbook_id}", response_model=V1Playbook)
async def v1_replace_playbook(
    playbook_id: str, body: PlaybookWrite, caller: Caller, org: V1Org, services: ServicesDep
) -> V1Playbook:
    caller.require(Permission.MANAGE_PLAYBOOKS)
    spec = PlaybookSpec(title=body.title, body=body.body, macro=body.macro)
    return v1_playbook(await services.playbooks.replace(caller.service_user_id, org, playbook_id, spec))


@router.delete("/playbooks/{playbook_id}", response_model=V1Deleted)
async def v1_delete_playbook(playbook_id: str, caller: Caller, org: V1Org, services: ServicesDep) -> V1Deleted:
    caller.require(Permission.MANAGE_PLAYBOOKS)
    row = await services.playbooks.delete(org, playbook_id)
    return V1Deleted(message=f"playbook {row.id} deleted")


# -- secrets ----------------------------------------------------------------------------------------------------
def v1_secret(row: Secret) -> V1Secret:
    return V1Secret(id=row.id, type=row.secret_type, key=row.key, created_at=iso(row.created_at))


@router.get("/secrets", response_model=list[V1Secret], dependencies=[require(Permission.MANAGE_SECRETS)])
async def v1_list_secrets(org: V1Org, services: ServicesDep) -> list[V1Secret]:
    async def fetch(after: str | None) -> Page[Secret]:
        return await services.secrets.list_secrets(org, after=after, first=MAX_PAGE)

    return [v1_secret(s) async for s in pages(fetch)]


@router.post("/secrets", response_model=V1Secret, dependencies=[require(Permission.MANAGE_SECRETS)])
async def v1_create_secret(body: SecretCreate, caller: Caller, org: V1Org, services: ServicesDep) -> V1Secret:
    spec = SecretSpec(
        key=body.key,
        value=check_value(body.value),
        secret_type=body.type,
        is_sensitive=body.is_sensitive,
        note=body.note,
    )
    return v1_secret(await services.secrets.create(caller.service_user_id, org, spec))


@router.delete("/secrets/{secret_id}", response_model=V1Deleted, dependencies=[require(Permission.MANAGE_SECRETS)])
async def v1_delete_secret(secret_id: str, org: V1Org, services: ServicesDep) -> V1Deleted:
    row = await services.secrets.delete(org, secret_id)
    return V1Deleted(message=f"secret {row.id} deleted")
