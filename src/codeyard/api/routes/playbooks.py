"""``/v3/organizations/{org_id}/playbooks…`` (devin-api-reference §7; contract §7)."""

from fastapi import APIRouter

from codeyard.api.deps import Caller, OrgId, ServicesDep, require
from codeyard.api.schemas.common import First, Paginated
from codeyard.api.schemas.playbooks import PlaybookResponse, PlaybookWrite
from codeyard.domain.ids import ENTERPRISE_SCOPE
from codeyard.services.playbooks import PlaybookSpec
from codeyard.services.principal import Permission
from codeyard.storage.tables import Playbook

router = APIRouter(tags=["playbooks"])
READ = [require(Permission.READ_PLAYBOOKS)]
MANAGE = [require(Permission.MANAGE_PLAYBOOKS)]


def playbook_response(row: Playbook) -> PlaybookResponse:
    return PlaybookResponse(
        playbook_id=row.id,
        title=row.title,
        name=row.title,
        body=row.body,
        instructions=row.body,
        macro=row.macro,
        access_type=row.access_type,
        org_id=None if row.org_id == ENTERPRISE_SCOPE else row.org_id,
        created_at=int(row.created_at),
        updated_at=int(row.updated_at),
        created_by=row.created_by,
        updated_by=row.updated_by,
    )


def playbook_spec(body: PlaybookWrite) -> PlaybookSpec:
    return PlaybookSpec(title=body.title, body=body.body, macro=body.macro)


@router.get("/playbooks", response_model=Paginated[PlaybookResponse], dependencies=READ)
async def list_playbooks(
    org: OrgId, services: ServicesDep, after: str | None = None, first: First = 100
) -> Paginated[PlaybookResponse]:
    page = await services.playbooks.list_playbooks(org, after=after, first=first)
    return Paginated(
        items=[playbook_response(p) for p in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )


@router.post("/playbooks", response_model=PlaybookResponse, dependencies=MANAGE)
async def create_playbook(body: PlaybookWrite, caller: Caller, org: OrgId, services: ServicesDep) -> PlaybookResponse:
    return playbook_response(await services.playbooks.create(caller.service_user_id, org, playbook_spec(body)))


@router.get("/playbooks/{playbook_id}", response_model=PlaybookResponse, dependencies=READ)
async def get_playbook(playbook_id: str, org: OrgId, services: ServicesDep) -> PlaybookResponse:
    return playbook_response(await services.playbooks.get(org, playbook_id))


@router.put("/playbooks/{playbook_id}", response_model=PlaybookResponse, dependencies=MANAGE)
async def replace_playbook(
    playbook_id: str, body: PlaybookWrite, caller: Caller, org: OrgId, services: ServicesDep
) -> PlaybookResponse:
    row = await services.playbooks.replace(caller.service_user_id, org, playbook_id, playbook_spec(body))
    return playbook_response(row)


@router.delete("/playbooks/{playbook_id}", response_model=PlaybookResponse, dependencies=MANAGE)
async def delete_playbook(playbook_id: str, org: OrgId, services: ServicesDep) -> PlaybookResponse:
    return playbook_response(await services.playbooks.delete(org, playbook_id))
