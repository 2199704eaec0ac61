"""``/v3/self`` and enterprise organization schemas (devin-api-reference §§2.2, 9)."""

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from codeyard.api.schemas.common import Request

OrgName = Annotated[str, StringConstraints(min_length=1, max_length=256, strip_whitespace=True)]
AcuLimit = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class SelfResponse(BaseModel):
    principal_type: str = "service_user"
    service_user_id: str
    service_user_name: str
    org_id: str | None


class OrganizationCreate(Request):
    name: OrgName
    max_cycle_acu_limit: AcuLimit | None = None
    max_session_acu_limit: AcuLimit | None = None


class OrganizationUpdate(Request):
    name: OrgName | None = None
    max_cycle_acu_limit: AcuLimit | None = None
    max_session_acu_limit: AcuLimit | None = None


class OrganizationResponse(BaseModel):
    org_id: str
    name: str
    created_at: int
    updated_at: int
    max_cycle_acu_limit: float | None = None
    max_session_acu_limit: float | None = None
