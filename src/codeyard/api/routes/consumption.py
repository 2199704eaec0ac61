"""ACU consumption (devin-api-reference §9): daily reports per org and below it, enterprise totals, ACU limits."""

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from codeyard.api.deps import OrgId, ServicesDep, require
from codeyard.api.schemas.consumption import (
    AcuLimitBody,
    AcuLimitsResponse,
    AcusByProduct,
    ConsumptionByDate,
    ConsumptionResponse,
)
from codeyard.services.consumption import UsageReport
from codeyard.services.principal import Permission

router = APIRouter(tags=["consumption"], dependencies=[require(Permission.MANAGE_BILLING)])
"""Org-scoped: served under ``/v3/organizations/{org_id}`` and ``/v3/organizations``."""
enterprise_router = APIRouter(tags=["consumption"], dependencies=[require(Permission.MANAGE_ORGANIZATIONS)])
Epoch = Annotated[int, Field(ge=0, le=2**53)]


def report(usage: UsageReport) -> ConsumptionResponse:
    return ConsumptionResponse(
        consumption_by_date=[
            ConsumptionByDate(date=d.day, acus=d.acus, acus_by_product=AcusByProduct(devin=d.acus)) for d in usage.days
        ],
        total_acus=usage.total,
    )


@router.get("/consumption/daily", response_model=ConsumptionResponse)
async def get_daily_consumption(
    org: OrgId, services: ServicesDep, time_after: Epoch | None = None, time_before: Epoch | None = None
) -> ConsumptionResponse:
    return report(await services.consumption.daily(org_id=org, time_after=time_after, time_before=time_before))


@router.get("/consumption/daily/sessions/{session_id}", response_model=ConsumptionResponse)
async def get_session_daily_consumption(
    session_id: str,
    org: OrgId,
    services: ServicesDep,
    time_after: Epoch | None = None,
    time_before: Epoch | None = None,
) -> ConsumptionResponse:
    row = await services.sessions.get(org, session_id)
    return report(
        await services.consumption.daily(org_id=org, session_id=row.id, time_after=time_after, time_before=time_before)
    )


@router.get("/consumption/daily/service-users/{service_user_id}", response_model=ConsumptionResponse)
async def get_service_user_daily_consumption(
    service_user_id: str,
    org: OrgId,
    services: ServicesDep,
    time_after: Epoch | None = None,
    time_before: Epoch | None = None,
) -> ConsumptionResponse:
    await services.sessions.check_user(org, service_user_id)
    return report(
        await services.consumption.daily(
            org_id=org, service_user_id=service_user_id, time_after=time_after, time_before=time_before
        )
    )


@router.get("/consumption/daily/users/{user_id}", response_model=ConsumptionResponse)
async def get_user_daily_consumption(
    user_id: str, org: OrgId, services: ServicesDep, time_after: Epoch | None = None, time_before: Epoch | None = None
) -> ConsumptionResponse:
    await services.sessions.check_user(org, user_id)
    return report(
        await services.consumption.daily(org_id=org, user_id=user_id, time_after=time_after, time_before=time_before)
    )


@enterprise_router.get("/v3/enterprise/consumption/daily", response_model=ConsumptionResponse)
async def get_enterprise_daily_consumption(
    services: ServicesDep, time_after: Epoch | None = None, time_before: Epoch | None = None
) -> ConsumptionResponse:
    return report(await services.consumption.daily(org_id=None, time_after=time_after, time_before=time_before))


@enterprise_router.get("/v3/enterprise/consumption/daily/organizations/{org_id}", response_model=ConsumptionResponse)
async def get_enterprise_org_daily_consumption(
    org_id: str, services: ServicesDep, time_after: Epoch | None = None, time_before: Epoch | None = None
) -> ConsumptionResponse:
    org = await services.identity.get_org(org_id)
    return report(await services.consumption.daily(org_id=org.id, time_after=time_after, time_before=time_before))


@enterprise_router.get("/v3/enterprise/consumption/acu-limits", response_model=AcuLimitsResponse)
async def get_acu_limits(services: ServicesDep) -> AcuLimitsResponse:
    limits = await services.consumption.limits()
    return AcuLimitsResponse(
        enterprise_cycle_acu_limit=limits.enterprise_cycle_acu_limit, org_cycle_acu_limits=limits.org_cycle_acu_limits
    )


@enterprise_router.put("/v3/enterprise/consumption/acu-limits/devin", response_model=AcuLimitsResponse)
async def set_enterprise_acu_limit(body: AcuLimitBody, services: ServicesDep) -> AcuLimitsResponse:
    await services.consumption.set_enterprise_limit(body.cycle_acu_limit)
    return await get_acu_limits(services)


@enterprise_router.delete("/v3/enterprise/consumption/acu-limits/devin", response_model=AcuLimitsResponse)
async def delete_enterprise_acu_limit(services: ServicesDep) -> AcuLimitsResponse:
    await services.consumption.set_enterprise_limit(None)
    return await get_acu_limits(services)


@enterprise_router.put(
    "/v3/enterprise/consumption/acu-limits/devin/organizations/{org_id}", response_model=AcuLimitsResponse
)
async def set_org_acu_limit(org_id: str, body: AcuLimitBody, services: ServicesDep) -> AcuLimitsResponse:
    await services.consumption.set_org_limit(org_id, body.cycle_acu_limit)
    return await get_acu_limits(services)


@enterprise_router.delete(
    "/v3/enterprise/consumption/acu-limits/devin/organizations/{org_id}", response_model=AcuLimitsResponse
)
async def delete_org_acu_limit(org_id: str, services: ServicesDep) -> AcuLimitsResponse:
    await services.consumption.set_org_limit(org_id, None)
    return await get_acu_limits(services)
