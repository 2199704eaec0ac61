"""Service users, their API keys, roles and members over HTTP (devin-api-reference §9, the beta endpoints).

Two scopes over the same service: under ``/v3/organizations/{org_id}`` an org admin (``ManageOrgServiceUsers``)
provisions org_admin and org_member service users and their keys in its own org; under ``/v3/enterprise`` an
enterprise admin does it anywhere, enterprise admins included. A new key's token is in the response once and
stored only as a digest. ``/v3beta1/…`` reaches these routes through the beta alias.
"""

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from codeyard.api.deps import Caller, OrgId, ServicesDep, require
from codeyard.api.schemas.common import Paginated
from codeyard.api.schemas.members import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyResponse,
    ApiKeyRotate,
    MembersResponse,
    MemberUser,
    RoleAssignment,
    RoleResponse,
    RolesResponse,
    ServiceUserCreate,
    ServiceUserCreated,
    ServiceUserResponse,
    ServiceUserUpdate,
)
from codeyard.errors import FieldError, PermissionDeniedError
from codeyard.services.container import Services
from codeyard.services.identity import IssuedKey
from codeyard.services.principal import Permission, Role
from codeyard.storage.tables import ApiKey, ServiceUser

router = APIRouter(tags=["service-users"])
"""Org-scoped: served under ``/v3/organizations/{org_id}`` and ``/v3/organizations``."""
enterprise_router = APIRouter(tags=["service-users"])
MANAGE = [require(Permission.MANAGE_SERVICE_USERS)]
ENTERPRISE = [require(Permission.MANAGE_ORGANIZATIONS)]
KeyStatus = Annotated[Literal["active", "revoked", "expired", "all"], Query()]

ROLES = {
    Role.ENTERPRISE_ADMIN: RoleResponse(
        role_id="enterprise_admin", role_name="Enterprise admin", role_type="enterprise"
    ),
    Role.ORG_ADMIN: RoleResponse(role_id="org_admin", role_name="Organization admin", role_type="organization"),
    Role.ORG_MEMBER: RoleResponse(role_id="org_member", role_name="Organization member", role_type="organization"),
}


def user_response(user: ServiceUser, expires_at: float | None = None) -> ServiceUserResponse:
    return ServiceUserResponse(
        service_user_id=user.id,
        name=user.name,
        expires_at=int(expires_at) if expires_at else None,
        role_assignments=[RoleAssignment(role=ROLES[Role(user.role)], org_id=user.org_id)],
        created_at=int(user.created_at),
    )


def key_response(key: ApiKey, now: float) -> ApiKeyResponse:
    return ApiKeyResponse(
        api_key_id=key.id,
        api_key_name=key.name,
        created_at=int(key.created_at),
        expires_at=int(key.expires_at) if key.expires_at else None,
        is_active=key.revoked_at is None and (key.expires_at is None or key.expires_at > now),
        last_used_at=int(key.last_used_at) if key.last_used_at else None,
        revoked_at=int(key.revoked_at) if key.revoked_at else None,
        hint=key.hint,
    )


def created_key(key: IssuedKey, name: str) -> ApiKeyCreated:
    return ApiKeyCreated(
        api_key_id=key.api_key_id,
        api_key_name=name,
        token=key.token,
        expires_at=int(key.expires_at) if key.expires_at else None,
    )


def _ttl(expires_at: int | None) -> float | None:
    if expires_at is None:
        return None
    ttl = expires_at - time.time()
    if ttl <= 0:
        raise FieldError("expires_at", "the expiry must be in the future")
    return ttl


async def _create_user(services: Services, body: ServiceUserCreate, org_id: str | None) -> ServiceUserCreated:
    role = Role(body.role_id)
    if role == Role.ENTERPRISE_ADMIN:
        org_id = None
    elif org_id is None:
        raise FieldError("org_id", f"a {role.value} service user needs an organization")
    user = await services.identity.create_service_user(body.name, role, org_id)
    key = await services.identity.issue_key(user.id, "default", ttl_seconds=body.ttl_seconds)
    return ServiceUserCreated(service_user=user_response(user, key.expires_at), token=key.token)


async def _keys(services: Services, user_id: str, status: str) -> Paginated[ApiKeyResponse]:
    now = time.time()
    items = [key_response(k, now) for k in await services.identity.list_keys(user_id)]
    if status == "active":
        items = [k for k in items if k.is_active]
    elif status == "revoked":
        items = [k for k in items if k.revoked_at is not None]
    elif status == "expired":
        items = [k for k in items if k.revoked_at is None and k.expires_at is not None and k.expires_at <= now]
    return Paginated(items=items, total=len(items))


async def _rotate(services: Services, user_id: str, api_key_id: str, body: ApiKeyRotate) -> ApiKeyCreated:
    current = await services.identity.get_key(api_key_id, user_id)
    fresh = await services.identity.issue_key(user_id, current.name, ttl_seconds=_ttl(body.new_key_expires_at))
    if body.revoke_current and current.revoked_at is None:
        await services.identity.revoke_key(current.id)
    return created_key(fresh, current.name)


# -- organization scope -----------------------------------------------------------------------------------------
@router.get("/service-users", response_model=Paginated[ServiceUserResponse], dependencies=MANAGE)
async def list_org_service_users(org: OrgId, services: ServicesDep) -> Paginated[ServiceUserResponse]:
    users = await services.identity.list_service_users(org)
    return Paginated(items=[user_response(u) for u in users], total=len(users))


@router.post("/service-users", response_model=ServiceUserCreated, dependencies=MANAGE)
async def create_org_service_user(body: ServiceUserCreate, org: OrgId, services: ServicesDep) -> ServiceUserCreated:
    if body.role_id == Role.ENTERPRISE_ADMIN.value:
        raise PermissionDeniedError("an organization's admin cannot create an enterprise_admin service user")
    return await _create_user(services, body, org)


@router.get("/service-users/{service_user_id}", response_model=ServiceUserResponse, dependencies=MANAGE)
async def get_org_service_user(service_user_id: str, org: OrgId, services: ServicesDep) -> ServiceUserResponse:
    return user_response(await services.identity.get_service_user(service_user_id, org))


@router.get("/service-users/{service_user_id}/api-keys", response_model=Paginated[ApiKeyResponse], dependencies=MANAGE)
async def list_org_api_keys(
    service_user_id: str, org: OrgId, services: ServicesDep, status: KeyStatus = "all"
) -> Paginated[ApiKeyResponse]:
    user = await services.identity.get_service_user(service_user_id, org)
    return await _keys(services, user.id, status)


@router.post("/service-users/{service_user_id}/api-keys", response_model=ApiKeyCreated, dependencies=MANAGE)
async def create_org_api_key(
    service_user_id: str, body: ApiKeyCreate, org: OrgId, services: ServicesDep
) -> ApiKeyCreated:
    user = await services.identity.get_service_user(service_user_id, org)
    key = await services.identity.issue_key(user.id, body.name, ttl_seconds=_ttl(body.expires_at))
    return created_key(key, body.name)


@router.post(
    "/service-users/{service_user_id}/api-keys/{api_key_id}/rotate", response_model=ApiKeyCreated, dependencies=MANAGE
)
async def rotate_org_api_key(
    service_user_id: str, api_key_id: str, body: ApiKeyRotate, org: OrgId, services: ServicesDep
) -> ApiKeyCreated:
    user = await services.identity.get_service_user(service_user_id, org)
    return await _rotate(services, user.id, api_key_id, body)


@router.delete(
    "/service-users/{service_user_id}/api-keys/{api_key_id}", response_model=ApiKeyResponse, dependencies=MANAGE
)
async def revoke_org_api_key(
    service_user_id: str, api_key_id: str, org: OrgId, services: ServicesDep
) -> ApiKeyResponse:
    user = await services.identity.get_service_user(service_user_id, org)
    key = await services.identity.get_key(api_key_id, user.id)
    return key_response(await services.identity.revoke_key(key.id), time.time())


@router.get("/members/users", response_model=MembersResponse, dependencies=[require(Permission.VIEW_MEMBERSHIP)])
async def list_members(org: OrgId, services: ServicesDep) -> MembersResponse:
    """codeyard has no personal accounts: an organization's members are its service users (its own and the
    enterprise's are the ids ``create_as_user_id`` accepts)."""
    users = await services.identity.list_service_users(org)
    items = [MemberUser(user_id=u.id, name=u.name, role=ROLES[Role(u.role)]) for u in users]
    return MembersResponse(items=items, total=len(items))


@router.get("/members/users/{user_id}", response_model=MemberUser, dependencies=[require(Permission.VIEW_MEMBERSHIP)])
async def get_member(user_id: str, org: OrgId, services: ServicesDep) -> MemberUser:
    user = await services.identity.get_service_user(user_id, org)
    return MemberUser(user_id=user.id, name=user.name, role=ROLES[Role(user.role)])


@router.get("/members/idp-users", response_model=MembersResponse, dependencies=[require(Permission.VIEW_MEMBERSHIP)])
async def list_idp_members(org: OrgId) -> MembersResponse:
    """Always empty: codeyard has no identity provider (docs/compatibility.md)."""
    del org
    return MembersResponse(items=[], total=0)


# -- enterprise scope -------------------------------------------------------------------------------------------
@enterprise_router.get("/v3/enterprise/roles", response_model=RolesResponse, dependencies=ENTERPRISE)
async def list_roles() -> RolesResponse:
    return RolesResponse(items=list(ROLES.values()))


@enterprise_router.post("/v3/enterprise/service-users", response_model=ServiceUserCreated, dependencies=ENTERPRISE)
async def create_service_user(body: ServiceUserCreate, services: ServicesDep) -> ServiceUserCreated:
    return await _create_user(services, body, body.org_id)


@enterprise_router.post(
    "/v3/enterprise/members/service-users", response_model=ServiceUserCreated, dependencies=ENTERPRISE
)
async def create_member_service_user(body: ServiceUserCreate, services: ServicesDep) -> ServiceUserCreated:
    return await _create_user(services, body, body.org_id)


@enterprise_router.get(
    "/v3/enterprise/members/service-users", response_model=Paginated[ServiceUserResponse], dependencies=ENTERPRISE
)
async def list_service_users(services: ServicesDep, org_id: str | None = None) -> Paginated[ServiceUserResponse]:
    users = await services.identity.list_service_users(org_id)
    return Paginated(items=[user_response(u) for u in users], total=len(users))


@enterprise_router.get(
    "/v3/enterprise/members/service-users/{service_user_id}",
    response_model=ServiceUserResponse,
    dependencies=ENTERPRISE,
)
async def get_service_user(service_user_id: str, services: ServicesDep) -> ServiceUserResponse:
    return user_response(await services.identity.get_service_user(service_user_id))


@enterprise_router.patch(
    "/v3/enterprise/members/service-users/{service_user_id}",
    response_model=ServiceUserResponse,
    dependencies=ENTERPRISE,
)
async def update_service_user(
    service_user_id: str, body: ServiceUserUpdate, services: ServicesDep
) -> ServiceUserResponse:
    current = await services.identity.get_service_user(service_user_id)
    role = Role(body.role_id)
    org_id = None if role == Role.ENTERPRISE_ADMIN else (body.org_id or current.org_id)
    if role != Role.ENTERPRISE_ADMIN and org_id is None:
        raise FieldError("org_id", f"a {role.value} service user needs an organization")
    return user_response(await services.identity.set_role(service_user_id, role, org_id))


@enterprise_router.get(
    "/v3/enterprise/service-users/{service_user_id}/api-keys",
    response_model=Paginated[ApiKeyResponse],
    dependencies=ENTERPRISE,
)
async def list_api_keys(
    service_user_id: str, services: ServicesDep, status: KeyStatus = "all"
) -> Paginated[ApiKeyResponse]:
    user = await services.identity.get_service_user(service_user_id)
    return await _keys(services, user.id, status)


@enterprise_router.post(
    "/v3/enterprise/service-users/{service_user_id}/api-keys", response_model=ApiKeyCreated, dependencies=ENTERPRISE
)
async def create_api_key(service_user_id: str, body: ApiKeyCreate, services: ServicesDep) -> ApiKeyCreated:
    user = await services.identity.get_service_user(service_user_id)
    key = await services.identity.issue_key(user.id, body.name, ttl_seconds=_ttl(body.expires_at))
    return created_key(key, body.name)


@enterprise_router.post(
    "/v3/enterprise/service-users/{service_user_id}/api-keys/{api_key_id}/rotate",
    response_model=ApiKeyCreated,
    dependencies=ENTERPRISE,
)
async def rotate_api_key(
    service_user_id: str, api_key_id: str, body: ApiKeyRotate, services: ServicesDep
) -> ApiKeyCreated:
    user = await services.identity.get_service_user(service_user_id)
    return await _rotate(services, user.id, api_key_id, body)


@enterprise_router.delete(
    "/v3/enterprise/service-users/{service_user_id}/api-keys/{api_key_id}",
    response_model=ApiKeyResponse,
    dependencies=ENTERPRISE,
)
async def revoke_api_key(service_user_id: str, api_key_id: str, services: ServicesDep) -> ApiKeyResponse:
    user = await services.identity.get_service_user(service_user_id)
    key = await services.identity.get_key(api_key_id, user.id)
    return key_response(await services.identity.revoke_key(key.id), time.time())


@enterprise_router.get("/v3/enterprise/self", include_in_schema=False)
async def enterprise_self(caller: Caller) -> dict[str, str | None]:
    """The legacy ``/v3beta1/enterprise/self``: the same answer as ``/v3/self``."""
    return {
        "principal_type": "service_user",
        "service_user_id": caller.service_user_id,
        "service_user_name": caller.service_user_name,
        "org_id": caller.org_id,
    }
