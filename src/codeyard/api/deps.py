"""Request dependencies: the caller (authenticated, rate-limited) and the organization a path names.

Route signatures read like words: ``caller: Caller``, ``org: OrgId``, ``services: ServicesDep``.
"""

from typing import Annotated, Any

from fastapi import Depends, Request, Response

from codeyard.api.state import AppState
from codeyard.errors import AuthenticationError, BadRequestError, NotFoundError, PermissionDeniedError
from codeyard.services.container import Services
from codeyard.services.principal import Permission, Principal


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.codeyard
    return state


StateDep = Annotated[AppState, Depends(app_state)]


def services_dep(state: StateDep) -> Services:
    return state.services


ServicesDep = Annotated[Services, Depends(services_dep)]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("an Authorization: Bearer <API key> header is required")
    return token.strip()


async def authenticate(request: Request, response: Response, state: StateDep) -> Principal:
    address = request.client.host if request.client else "unknown"
    await state.limiter.check_address(address)
    try:
        principal = await state.services.identity.authenticate(_bearer(request))
    except AuthenticationError:
        await state.limiter.record_failure(address)
        raise
    quota = await state.limiter.hit_key(principal.api_key_id)
    response.headers["X-RateLimit-Limit"] = str(quota.limit)
    response.headers["X-RateLimit-Remaining"] = str(quota.remaining)
    response.headers["X-RateLimit-Reset"] = str(quota.reset)
    request.state.principal = principal
    return principal


Caller = Annotated[Principal, Depends(authenticate)]


async def resolve_org(request: Request, caller: Caller, services: ServicesDep) -> str:
    """The org of ``/v3/organizations/{org_id}/…``, or the key's own org for ``/v3/organizations/…``."""
    org_id: str | None = request.path_params.get("org_id")
    if org_id is None:
        if caller.org_id is None:
            raise BadRequestError("an enterprise API key must name the organization: /v3/organizations/{org_id}/…")
        return caller.org_id
    if not caller.can_access_org(org_id):
        raise PermissionDeniedError(f"this API key cannot access organization {org_id[:80]}")
    if caller.org_id is None:  # an org key's own org was checked when the key was authenticated
        try:
            await services.identity.get_org(org_id)
        except NotFoundError as exc:
            raise NotFoundError(f"organization {org_id[:80]} not found") from exc
    return org_id


OrgId = Annotated[str, Depends(resolve_org)]


def require(permission: Permission) -> Any:
    """A dependency that refuses callers whose role lacks ``permission`` (403)."""

    def check(caller: Caller) -> None:
        caller.require(permission)

    return Depends(check)
