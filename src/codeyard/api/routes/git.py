"""``…/git-connections`` (org_admin only) and the hand-back downloads ``…/sessions/{id}/changes…`` (contract §10)."""

from fastapi import APIRouter, Response

from codeyard.api.deps import Caller, OrgId, ServicesDep, require
from codeyard.api.schemas.common import First, Paginated
from codeyard.api.schemas.git import (
    ChangesResponse,
    GitConnectionCreate,
    GitConnectionResponse,
    GitConnectionUpdate,
    RepoChanges,
)
from codeyard.errors import NotFoundError
from codeyard.services.git_connections import ConnectionSpec, check_token
from codeyard.services.principal import Permission
from codeyard.storage.tables import GitConnection

router = APIRouter(tags=["git"])
MANAGE = [require(Permission.MANAGE_SECRETS)]
VIEW = [require(Permission.VIEW_SESSIONS)]


def connection_response(row: GitConnection) -> GitConnectionResponse:
    return GitConnectionResponse(
        connection_id=row.id,
        host=row.host,
        kind=row.kind,
        api_url=row.api_url,
        username=row.username,
        created_at=int(row.created_at),
        updated_at=int(row.updated_at),
        created_by=row.created_by,
    )


@router.get("/git-connections", response_model=Paginated[GitConnectionResponse], dependencies=MANAGE)
async def list_git_connections(
    org: OrgId, services: ServicesDep, after: str | None = None, first: First = 100
) -> Paginated[GitConnectionResponse]:
    page = await services.git_connections.list_connections(org, after=after, first=first)
    return Paginated(
        items=[connection_response(c) for c in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )


@router.post("/git-connections", response_model=GitConnectionResponse, dependencies=MANAGE)
async def create_git_connection(
    body: GitConnectionCreate, caller: Caller, org: OrgId, services: ServicesDep
) -> GitConnectionResponse:
    spec = ConnectionSpec(body.host, body.kind, body.api_url, body.username, check_token(body.token))
    return connection_response(await services.git_connections.create(caller.service_user_id, org, spec))


@router.get("/git-connections/{connection_id}", response_model=GitConnectionResponse, dependencies=MANAGE)
async def get_git_connection(connection_id: str, org: OrgId, services: ServicesDep) -> GitConnectionResponse:
    return connection_response(await services.git_connections.get(org, connection_id))


@router.patch("/git-connections/{connection_id}", response_model=GitConnectionResponse, dependencies=MANAGE)
async def update_git_connection(
    connection_id: str, body: GitConnectionUpdate, org: OrgId, services: ServicesDep
) -> GitConnectionResponse:
    fields = set(body.model_fields_set)
    token = check_token(body.token) if "token" in fields else None
    spec = ConnectionSpec(body.host, body.kind, body.api_url, body.username, token)
    return connection_response(await services.git_connections.update(org, connection_id, spec, fields))


@router.delete("/git-connections/{connection_id}", response_model=GitConnectionResponse, dependencies=MANAGE)
async def delete_git_connection(connection_id: str, org: OrgId, services: ServicesDep) -> GitConnectionResponse:
    return connection_response(await services.git_connections.delete(org, connection_id))


@router.get("/sessions/{devin_id}/changes", response_model=ChangesResponse, dependencies=VIEW)
async def session_changes(devin_id: str, org: OrgId, services: ServicesDep) -> ChangesResponse:
    row = await services.sessions.get(org, devin_id)
    items = [RepoChanges.model_validate(item) for item in await services.changes.summary(org, row.id)]
    return ChangesResponse(items=items, total=len(items))


def _index(name: str, suffix: str) -> int:
    number = name.removesuffix(suffix)
    if not name.endswith(suffix) or not number.isdigit() or len(number) > 6:
        raise NotFoundError(f"no such download: {name[:40]}")
    return int(number)


@router.get(
    "/sessions/{devin_id}/changes/{name}",
    response_class=Response,
    dependencies=VIEW,
    responses={200: {"content": {"application/octet-stream": {}, "text/x-diff": {}}}},
)
async def session_change_download(devin_id: str, name: str, org: OrgId, services: ServicesDep) -> Response:
    """``{index}.bundle``: a git bundle of the agent's commits; ``{index}.patch``: its uncommitted work."""
    row = await services.sessions.get(org, devin_id)
    if name.endswith(".bundle"):
        data = await services.changes.bundle(org, row.id, _index(name, ".bundle"))
        media = "application/octet-stream"
    else:
        data = await services.changes.patch(org, row.id, _index(name, ".patch"))
        media = "text/x-diff"
    disposition = f'attachment; filename="{row.id}-{name}"'
    return Response(data, media_type=media, headers={"Content-Disposition": disposition})
