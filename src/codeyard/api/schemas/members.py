"""Service users, API keys, roles and members over HTTP (devin-api-reference §9, beta endpoints)."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from codeyard.api.schemas.common import Identifier, Request

RoleId = Literal["enterprise_admin", "org_admin", "org_member"]
KeyName = Annotated[str, StringConstraints(min_length=1, max_length=256, strip_whitespace=True)]
Ttl = Annotated[int, Field(gt=0, le=31_536_000)]
Epoch = Annotated[int, Field(gt=0, le=2**53)]


class RoleResponse(BaseModel):
    role_id: str
    role_name: str
    role_type: Literal["enterprise", "organization"]


class RolesResponse(BaseModel):
    items: list[RoleResponse]


class RoleAssignment(BaseModel):
    role: RoleResponse
    org_id: str | None = None


class ServiceUserResponse(BaseModel):
    service_user_id: str
    name: str
    expires_at: int | None = None
    role_assignments: list[RoleAssignment]
    created_at: int


class ServiceUserCreate(Request):
    name: KeyName
    role_id: RoleId
    ttl_seconds: Ttl | None = None
    """Lifetime of the first API key (at most a year); none means it does not expire."""
    org_id: Identifier | None = None
    """Enterprise provisioning only: the org of an org_admin or org_member."""


class ServiceUserCreated(BaseModel):
    service_user: ServiceUserResponse
    token: str
    """The first API key; shown once."""


class ServiceUserUpdate(Request):
    role_id: RoleId
    org_id: Identifier | None = None


class ApiKeyCreate(Request):
    name: KeyName = "default"
    expires_at: Epoch | None = None


class ApiKeyRotate(Request):
    new_key_expires_at: Epoch | None = None
    revoke_current: bool = True


class ApiKeyResponse(BaseModel):
    api_key_id: str
    api_key_name: str
    created_at: int
    expires_at: int | None = None
    is_active: bool
    last_used_at: int | None = None
    revoked_at: int | None = None
    hint: str
    """The key's first characters, to tell keys apart."""


class ApiKeyCreated(BaseModel):
    api_key_id: str
    api_key_name: str
    token: str
    """Shown once."""
    expires_at: int | None = None


class MemberUser(BaseModel):
    user_id: str
    name: str
    email: str | None = None
    role: RoleResponse


class MembersResponse(BaseModel):
    items: list[MemberUser]
    end_cursor: str | None = None
    has_next_page: bool = False
    total: int | None = None
