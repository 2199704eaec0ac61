"""``/v3/organizations/{org_id}/secrets…`` (devin-api-reference §8.1; contract §7). Every endpoint needs
``ManageOrgSecrets``; no response ever carries a value."""

from fastapi import APIRouter

from codeyard.api.deps import Caller, OrgId, ServicesDep, require
from codeyard.api.schemas.common import First, Paginated
from codeyard.api.schemas.secrets import SecretCreate, SecretResponse
from codeyard.services.principal import Permission
from codeyard.services.secrets import SecretSpec, check_value
from codeyard.storage.tables import Secret

router = APIRouter(tags=["secrets"], dependencies=[require(Permission.MANAGE_SECRETS)])


def secret_response(row: Secret) -> SecretResponse:
    return SecretResponse(
        secret_id=row.id,
        key=row.key,
        secret_type=row.secret_type,
        is_sensitive=row.is_sensitive,
        note=row.note,
        access_type=row.access_type,
        created_at=int(row.created_at),
        created_by=row.created_by,
    )


@router.get("/secrets", response_model=Paginated[SecretResponse])
async def list_secrets(
    org: OrgId, services: ServicesDep, after: str | None = None, first: First = 100
) -> Paginated[SecretResponse]:
    page = await services.secrets.list_secrets(org, after=after, first=first)
    return Paginated(
        items=[secret_response(s) for s in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )


@router.post("/secrets", response_model=SecretResponse)
async def create_secret(body: SecretCreate, caller: Caller, org: OrgId, services: ServicesDep) -> SecretResponse:
    spec = SecretSpec(
        key=body.key,
        value=check_value(body.value),
        secret_type=body.type,
        is_sensitive=body.is_sensitive,
        note=body.note,
    )
    return secret_response(await services.secrets.create(caller.service_user_id, org, spec))


@router.delete("/secrets/{secret_id}", response_model=SecretResponse)
async def delete_secret(secret_id: str, org: OrgId, services: ServicesDep) -> SecretResponse:
    return secret_response(await services.secrets.delete(org, secret_id))
