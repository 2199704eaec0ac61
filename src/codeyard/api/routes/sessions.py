"""``/v3/organizations/{org_id}/sessions…`` (devin-api-reference §5; contract §4)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field, TypeAdapter

from codeyard.api import render
from codeyard.api.deps import Access, Caller, OrgId, ServicesDep, StateDep, org_access, require
from codeyard.api.schemas.common import First, Paginated
from codeyard.api.schemas.sessions import (
    AttachmentItem,
    EventResponse,
    MessageCreate,
    MessageResponse,
    SessionCreate,
    SessionResponse,
    TagsBody,
    TagsResponse,
)
from codeyard.api.state import AppState
from codeyard.services.principal import Permission, Principal
from codeyard.services.sessions import NewSession, SessionFilters
from codeyard.storage.tables import AgentSessionRow

router = APIRouter(tags=["sessions"])
VIEW = [require(Permission.VIEW_SESSIONS)]
Viewer = Annotated[Access, org_access(Permission.VIEW_SESSIONS)]
"""The hot reads take one dependency (auth, rate limit, org, role) and answer pre-serialised JSON."""
MANAGE = [require(Permission.MANAGE_SESSIONS)]
_SECRET_FIELDS = {"session_secrets"}
_ATTACHMENT_ITEMS = TypeAdapter(list[AttachmentItem])
Epoch = Annotated[int, Field(ge=0, le=2**53)]
"""Epoch seconds in a query; bounded so that a huge number is a 422, not an overflow in the database."""


def multi(request: Request, name: str, declared: list[str] | None) -> list[str]:
    """Array query parameters as repeated keys in either spelling (``tags=a&tags=b`` or ``tags[]=a``) or as one
    comma-joined value (``tags=a,b``, what the generated SDK sends): contract §3."""
    values = [*(declared or []), *request.query_params.getlist(f"{name}[]")]
    return [part for value in values for part in value.split(",") if part]


async def start_session(
    body: SessionCreate, caller: Principal, org: str, state: AppState, *, recorded: dict[str, Any] | None = None
) -> AgentSessionRow:
    """Create a session from a create request (v3 and v1 alike): impersonation checked, every field recorded."""
    if body.create_as_user_id is not None:
        caller.require(Permission.IMPERSONATE_USERS)  # acting for another user: org_admin and above (403)
        await state.services.sessions.check_user(org, body.create_as_user_id)
    spec = NewSession(
        prompt=body.prompt,
        title=body.title,
        tags=body.tags or [],
        playbook_id=body.playbook_id,
        knowledge_ids=body.knowledge_ids,
        secret_ids=body.secret_ids,
        session_secrets=[s.model_dump() for s in body.session_secrets] if body.session_secrets else None,
        max_acu_limit=body.max_acu_limit,
        repos=body.repos or [],
        attachment_urls=body.attachment_urls or [],
        structured_output_schema=body.structured_output_schema,
        request=body.model_dump(exclude=_SECRET_FIELDS, exclude_unset=True) | (recorded or {}),
        user_id=body.create_as_user_id,
    )
    return await state.services.sessions.create(caller, org, spec)


@router.post("/sessions", response_model=SessionResponse, dependencies=MANAGE)
async def create_session(body: SessionCreate, caller: Caller, org: OrgId, state: StateDep) -> SessionResponse:
    row = await start_session(body, caller, org, state)
    positions = await state.services.sessions.queue_positions([row.id])
    return render.session(row, state.settings.resolved_public_url, positions.get(row.id))


async def session_filters(
    request: Request,
    tags: Annotated[list[str] | None, Query()] = None,
    session_ids: Annotated[list[str] | None, Query()] = None,
    origins: Annotated[list[str] | None, Query()] = None,
    repo_names: Annotated[list[str] | None, Query()] = None,
    service_user_ids: Annotated[list[str] | None, Query()] = None,
    user_ids: Annotated[list[str] | None, Query()] = None,
    playbook_id: str | None = None,
    schedule_id: str | None = None,
    category: str | None = None,
    is_archived: bool | None = None,
    created_after: Epoch | None = None,
    created_before: Epoch | None = None,
    updated_after: Epoch | None = None,
    updated_before: Epoch | None = None,
) -> SessionFilters:
    """The session list filters (devin-api-reference §5.4), shared by the sessions and insights lists."""
    return SessionFilters(
        tags=multi(request, "tags", tags),
        session_ids=multi(request, "session_ids", session_ids),
        origins=multi(request, "origins", origins),
        repo_names=multi(request, "repo_names", repo_names),
        service_user_ids=multi(request, "service_user_ids", service_user_ids),
        user_ids=multi(request, "user_ids", user_ids),
        playbook_id=playbook_id,
        schedule_id=schedule_id,
        category=category,
        is_archived=is_archived,
        created_after=created_after,
        created_before=created_before,
        updated_after=updated_after,
        updated_before=updated_before,
    )


Filters = Annotated[SessionFilters, Depends(session_filters)]


@router.get("/sessions", response_model=Paginated[SessionResponse], dependencies=VIEW)
async def list_sessions(
    org: OrgId, state: StateDep, filters: Filters, after: str | None = None, first: First = 100
) -> Paginated[SessionResponse]:
    page = await state.services.sessions.list_sessions(org, filters, after=after, first=first)
    positions = await state.services.sessions.queue_positions([r.id for r in page.items if r.claimed_by is None])
    public = state.settings.resolved_public_url
    return Paginated(
        items=[render.session(r, public, positions.get(r.id)) for r in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )


@router.get("/sessions/{devin_id}", response_model=SessionResponse)
async def get_session(devin_id: str, access: Viewer) -> Response:
    row, position = await access.state.services.sessions.get_with_position(access.org_id, devin_id)
    return render.json(render.session(row, access.state.settings.resolved_public_url, position), access.headers)


@router.delete("/sessions/{devin_id}", response_model=SessionResponse, dependencies=MANAGE)
async def terminate_session(devin_id: str, org: OrgId, state: StateDep, archive: bool = False) -> SessionResponse:
    row = await state.services.sessions.terminate(org, devin_id, archive=archive)
    return render.session(row, state.settings.resolved_public_url)


@router.post("/sessions/{devin_id}/archive", response_model=SessionResponse, dependencies=MANAGE)
async def archive_session(devin_id: str, org: OrgId, state: StateDep) -> SessionResponse:
    row = await state.services.sessions.archive(org, devin_id)
    return render.session(row, state.settings.resolved_public_url)


@router.get("/sessions/{devin_id}/messages", response_model=Paginated[MessageResponse])
async def list_messages(devin_id: str, access: Viewer, after: str | None = None, first: First = 100) -> Response:
    page = await access.state.services.sessions.messages(access.org_id, devin_id, after=after, first=first)
    body = Paginated[MessageResponse](
        items=[render.message(m) for m in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )
    return render.json(body, access.headers)


@router.post("/sessions/{devin_id}/messages", response_model=SessionResponse, dependencies=MANAGE)
async def send_message(
    devin_id: str, body: MessageCreate, caller: Caller, org: OrgId, state: StateDep
) -> SessionResponse:
    if body.message_as_user_id is not None:
        caller.require(Permission.IMPERSONATE_USERS)
    row = await state.services.sessions.send_message(caller, org, devin_id, body.message, body.attachment_urls or [])
    return render.session(row, state.settings.resolved_public_url)


@router.get("/sessions/{devin_id}/events", response_model=Paginated[EventResponse], dependencies=VIEW)
async def list_events(
    request: Request,
    devin_id: str,
    org: OrgId,
    services: ServicesDep,
    after: str | None = None,
    first: First = 100,
    categories: Annotated[list[str] | None, Query()] = None,
    event_types: Annotated[list[str] | None, Query()] = None,
    direction: str | None = None,
    created_after: Epoch | None = None,
    created_before: Epoch | None = None,
) -> Paginated[EventResponse]:
    page = await services.sessions.events(
        org,
        devin_id,
        after=after,
        first=first,
        categories=multi(request, "categories", categories),
        event_types=multi(request, "event_types", event_types),
        direction=direction,
        created_after=created_after,
        created_before=created_before,
    )
    return Paginated(
        items=[render.event(e) for e in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )


@router.get(
    "/sessions/{devin_id}/attachments",
    response_model=Paginated[AttachmentItem],
    dependencies=VIEW,
    description="The envelope `{items, …}`; a request with the generated SDK's `X-Stainless-Lang` header gets the "
    "bare array of the same items, which is the shape that SDK validates (docs/compatibility.md).",
)
async def list_session_attachments(
    request: Request, devin_id: str, org: OrgId, services: ServicesDep
) -> Paginated[AttachmentItem] | Response:
    row = await services.sessions.get(org, devin_id)
    items = [
        render.attachment_item(att, source, services.attachments)
        for att, source in await services.attachments.for_session(row.id)
    ]
    if "x-stainless-lang" in request.headers:
        return Response(_ATTACHMENT_ITEMS.dump_json(items), media_type="application/json")
    return Paginated(items=items, end_cursor=None, has_next_page=False, total=len(items))


@router.get("/sessions/{devin_id}/tags", response_model=TagsResponse, dependencies=VIEW)
async def get_tags(devin_id: str, org: OrgId, services: ServicesDep) -> TagsResponse:
    return TagsResponse(tags=list((await services.sessions.get(org, devin_id)).tags))


@router.put("/sessions/{devin_id}/tags", response_model=TagsResponse, dependencies=MANAGE)
async def replace_tags(devin_id: str, body: TagsBody, org: OrgId, services: ServicesDep) -> TagsResponse:
    return TagsResponse(tags=await services.sessions.set_tags(org, devin_id, body.tags, append=False))


@router.post("/sessions/{devin_id}/tags", response_model=TagsResponse, dependencies=MANAGE)
async def add_tags(devin_id: str, body: TagsBody, org: OrgId, services: ServicesDep) -> TagsResponse:
    return TagsResponse(tags=await services.sessions.set_tags(org, devin_id, body.tags, append=True))
