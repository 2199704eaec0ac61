"""Request dependencies: the caller (authenticated, rate-limited) and the organization a path names.

Route signatures read like words: ``caller: Caller``, ``org: OrgId``, ``services: ServicesDep``.

Every dependency is ``async def``, even the ones that await nothing: FastAPI runs plain ``def`` dependencies in
its thread pool, a thread hop per dependency per request that costs more than their work.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from codeyard.api.ratelimit import Quota
from codeyard.api.state import AppState
from codeyard.errors import AuthenticationError, BadRequestError, NotFoundError, PermissionDeniedError
from codeyard.services.container import Services
from codeyard.services.principal import Permission, Principal


async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.codeyard
    return state


StateDep = Annotated[AppState, Depends(app_state)]


async def services_dep(state: StateDep) -> Services:
    return state.services


ServicesDep = Annotated[Services, Depends(services_dep)]


_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    bearerFormat="cog_…",
    description="A service user's API key: `Authorization: Bearer cog_…`.",
)
"""Reads the header and declares the bearer security scheme on every authenticated operation of the OpenAPI
document (generated clients need it); a missing or malformed header is our own 401, not FastAPI's."""


async def _authenticate(
    request: Request, state: AppState, credentials: HTTPAuthorizationCredentials | None
) -> tuple[Principal, Quota]:
    try:
        if credentials is None:
            raise AuthenticationError("an Authorization: Bearer <API key> header is required")
        principal = await state.services.identity.authenticate(credentials.credentials)
    except AuthenticationError:
        await state.limiter.record_failure(request.client.host if request.client else "unknown")
        raise
    quota = await state.limiter.hit_key(principal.api_key_id)
    request.state.principal = principal
    return principal, quota


def rate_headers(quota: Quota) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(quota.limit),
        "X-RateLimit-Remaining": str(quota.remaining),
        "X-RateLimit-Reset": str(quota.reset),
    }


async def authenticate(
    request: Request,
    response: Response,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Principal:
    principal, quota = await _authenticate(request, state, credentials)
    response.headers.update(rate_headers(quota))
    return principal


Caller = Annotated[Principal, Depends(authenticate)]


async def resolve_org(request: Request, caller: Caller, services: ServicesDep) -> str:
    """The org of ``/v3/organizations/{org_id}/…``, or the key's own org for ``/v3/organizations/…``."""
    return await _resolve_org(request, caller, services)


async def _resolve_org(request: Request, caller: Principal, services: Services) -> str:
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


async def org_in_path(
    org_id: Annotated[str, Path(description="Organization id (`org-…`); an org key may leave the segment out.")],
) -> None:
    """Declares ``{org_id}`` on the org-scoped operations of the OpenAPI document; ``resolve_org`` checks it."""


def require(permission: Permission) -> Any:
    """A dependency that refuses callers whose role lacks ``permission`` (403)."""

    async def check(caller: Caller) -> None:
        caller.require(permission)

    return Depends(check)


@dataclass(frozen=True)
class Access:
    """What one dependency establishes for a hot read: who calls, in which org, the key's quota, the app state."""

    caller: Principal
    org_id: str
    quota: Quota
    state: AppState

    @property
    def headers(self) -> dict[str, str]:
        return rate_headers(self.quota)


def org_access(permission: Permission) -> Any:
    """One dependency doing the work of ``Caller`` + ``OrgId`` + ``require(permission)`` (authentication, the
    key's rate limit, the org check, the role check): each dependency FastAPI solves costs time on the hot reads."""

    async def access(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
    ) -> Access:
        state: AppState = request.app.state.codeyard
        principal, quota = await _authenticate(request, state, credentials)
        principal.require(permission)
        org_id = await _resolve_org(request, principal, state.services)
        return Access(principal, org_id, quota, state)

    return Depends(access)
