"""``/v3/self`` and ``/v3/enterprise/organizations`` (contract §2)."""

from fastapi import APIRouter

from codeyard.api.deps import Caller, ServicesDep, require
from codeyard.api.schemas.common import First, Paginated
from codeyard.api.schemas.identity import (
    OrganizationCreate,
    OrganizationResponse,
    OrganizationUpdate,
    SelfResponse,
)
from codeyard.errors import FieldError
from codeyard.services.pagination import decode_cursor, encode_cursor
from codeyard.services.principal import Permission
from codeyard.storage.tables import Organization

router = APIRouter()
ADMIN = [require(Permission.MANAGE_ORGANIZATIONS)]


def _org(row: Organization) -> OrganizationResponse:
    return OrganizationResponse(
        org_id=row.id,
        name=row.name,
        created_at=int(row.created_at),
        updated_at=int(row.updated_at),
        max_cycle_acu_limit=row.max_cycle_acu_limit,
        max_session_acu_limit=row.max_session_acu_limit,
    )


@router.get("/v3/self", response_model=SelfResponse, tags=["self"])
async def get_self(caller: Caller) -> SelfResponse:
    return SelfResponse(
        service_user_id=caller.service_user_id, service_user_name=caller.service_user_name, org_id=caller.org_id
    )


@router.get(
    "/v3/enterprise/organizations",
    response_model=Paginated[OrganizationResponse],
    dependencies=ADMIN,
    tags=["organizations"],
)
async def list_organizations(
    services: ServicesDep, after: str | None = None, first: First = 100
) -> Paginated[OrganizationResponse]:
    cursor = decode_cursor(after)
    orgs = [o for o in await services.identity.list_orgs() if cursor is None or o.pk > cursor]
    page, has_next = orgs[:first], len(orgs) > first
    return Paginated(
        items=[_org(o) for o in page],
        end_cursor=encode_cursor(page[-1].pk) if has_next else None,
        has_next_page=has_next,
        total=None,
    )


@router.post(
    "/v3/enterprise/organizations", response_model=OrganizationResponse, dependencies=ADMIN, tags=["organizations"]
)
async def create_organization(body: OrganizationCreate, services: ServicesDep) -> OrganizationResponse:
    row = await services.identity.create_org(
        body.name, max_cycle_acu_limit=body.max_cycle_acu_limit, max_session_acu_limit=body.max_session_acu_limit
    )
    return _org(row)


@router.get(
    "/v3/enterprise/organizations/{org_id}",
    response_model=OrganizationResponse,
    dependencies=ADMIN,
    tags=["organizations"],
)
async def get_organization(org_id: str, services: ServicesDep) -> OrganizationResponse:
    return _org(await services.identity.get_org(org_id))


@router.patch(
    "/v3/enterprise/organizations/{org_id}",
    response_model=OrganizationResponse,
    dependencies=ADMIN,
    tags=["organizations"],
)
async def update_organization(org_id: str, body: OrganizationUpdate, services: ServicesDep) -> OrganizationResponse:
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise FieldError("name", "an organization's name cannot be null")
    return _org(await services.identity.update_org(org_id, changes))


@router.delete(
    "/v3/enterprise/organizations/{org_id}",
    response_model=OrganizationResponse,
    dependencies=ADMIN,
    tags=["organizations"],
)
async def delete_organization(org_id: str, services: ServicesDep) -> OrganizationResponse:
    return _org(await services.identity.delete_org(org_id))
