"""The enterprise session mirror (devin-api-reference §5.10): ``/v3/enterprise/sessions…`` for an enterprise
admin, over every organization (``?org_id=`` narrows the list), with the org routes' own handlers and shapes."""

from typing import Annotated

from fastapi import APIRouter, Depends

from codeyard.api import render
from codeyard.api.deps import ServicesDep, StateDep, require
from codeyard.api.routes import sessions
from codeyard.api.schemas.common import First, Paginated
from codeyard.api.schemas.sessions import MessageResponse, SessionResponse, TagsResponse
from codeyard.services.principal import Permission

router = APIRouter(
    prefix="/v3/enterprise", tags=["enterprise-sessions"], dependencies=[require(Permission.MANAGE_ORGANIZATIONS)]
)


async def session_org(devin_id: str, services: ServicesDep) -> str:
    """The org of the session a mirror path names (404 for an unknown id)."""
    return (await services.sessions.find_any_org(devin_id)).org_id


SessionOrg = Annotated[str, Depends(session_org)]


@router.get("/sessions", response_model=Paginated[SessionResponse])
async def list_enterprise_sessions(
    state: StateDep, filters: sessions.Filters, org_id: str | None = None, after: str | None = None, first: First = 100
) -> Paginated[SessionResponse]:
    page = await state.services.sessions.list_sessions(org_id, filters, after=after, first=first)
    public = state.settings.resolved_public_url
    return Paginated(
        items=[render.session(r, public) for r in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )


@router.get("/sessions/{devin_id}", response_model=SessionResponse)
async def get_enterprise_session(devin_id: str, org: SessionOrg, state: StateDep) -> SessionResponse:
    row, position = await state.services.sessions.get_with_position(org, devin_id)
    return render.session(row, state.settings.resolved_public_url, position)


@router.get("/sessions/{devin_id}/messages", response_model=Paginated[MessageResponse])
async def list_enterprise_session_messages(
    devin_id: str, org: SessionOrg, services: ServicesDep, after: str | None = None, first: First = 100
) -> Paginated[MessageResponse]:
    page = await services.sessions.messages(org, devin_id, after=after, first=first)
    return Paginated(
        items=[render.message(m) for m in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )


@router.get("/sessions/{devin_id}/tags", response_model=TagsResponse)
async def get_enterprise_session_tags(devin_id: str, org: SessionOrg, services: ServicesDep) -> TagsResponse:
    return await sessions.get_tags(devin_id, org, services)


@router.post("/sessions/{devin_id}/archive", response_model=SessionResponse)
async def archive_enterprise_session(devin_id: str, org: SessionOrg, state: StateDep) -> SessionResponse:
    return await sessions.archive_session(devin_id, org, state)


@router.delete("/sessions/{devin_id}", response_model=SessionResponse)
async def terminate_enterprise_session(
    devin_id: str, org: SessionOrg, state: StateDep, archive: bool = False
) -> SessionResponse:
    return await sessions.terminate_session(devin_id, org, state, archive=archive)
