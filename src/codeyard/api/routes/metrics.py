"""Organization metrics (the generated SDK's ``metrics`` resource), computed from stored sessions."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from codeyard.api.deps import OrgId, ServicesDep, require
from codeyard.api.routes.sessions import multi
from codeyard.services.metrics import Window
from codeyard.services.principal import Permission

router = APIRouter(tags=["metrics"], dependencies=[require(Permission.VIEW_METRICS)])
Epoch = Annotated[int, Field(ge=0, le=2**53)]
Minimum = Annotated[int, Query(ge=0, le=1_000_000)]
DAY = 86400


class ActiveUserMetrics(BaseModel):
    active_users: int
    start_time: int
    end_time: int


class PrMetricsResponse(BaseModel):
    prs_created_count: int
    prs_opened_count: int
    prs_merged_count: int
    prs_closed_count: int


class SearchMetricsResponse(BaseModel):
    searches_created_count: int
    """Always 0: codeyard has no search product."""


class CountsBySize(BaseModel):
    xs: int = 0
    s: int = 0
    m: int = 0
    l: int = 0  # noqa: E741 - the reference's name
    xl: int = 0


class CountsByOrigin(BaseModel):
    api: int = 0
    webapp: int = 0
    slack: int = 0
    jira: int = 0
    linear: int = 0
    teams: int = 0
    automation: int = 0
    """Sessions started by schedules (a codeyard extension)."""


class SessionMetricsResponse(BaseModel):
    sessions_created_count: int
    sessions_created_with_playbook_count: int
    sessions_created_with_search_count: int
    avg_acus_per_session: float
    sessions_created_by_origin: CountsByOrigin
    sessions_created_by_size: CountsBySize
    sessions_with_merged_prs_count: int
    sessions_with_merged_prs_by_size: CountsBySize


class UsageMetricsResponse(BaseModel):
    sessions_count: int
    prs_created_count: int
    prs_merged_count: int
    searches_count: int


@router.get("/metrics/active-users", response_model=ActiveUserMetrics)
async def get_active_users(
    org: OrgId,
    services: ServicesDep,
    time_after: Epoch,
    time_before: Epoch,
    min_sessions: Minimum = 1,
    min_searches: Minimum = 0,
) -> ActiveUserMetrics:
    del min_searches  # no searches in codeyard: the condition holds for everyone at 0, nobody above it
    window = Window(time_after, time_before)
    count = await services.metrics.active_users(org, window, min_sessions=min_sessions)
    return ActiveUserMetrics(active_users=count, start_time=time_after, end_time=time_before)


async def _periods(
    org: str, services: ServicesDep, time_after: int, time_before: int, period: int, min_sessions: int
) -> list[ActiveUserMetrics]:
    buckets = await services.metrics.active_users_by(
        org, Window(time_after, time_before), period, min_sessions=min_sessions
    )
    return [ActiveUserMetrics(active_users=n, start_time=a, end_time=b) for a, b, n in buckets]


@router.get("/metrics/dau", response_model=list[ActiveUserMetrics])
async def get_daily_active_users(
    org: OrgId, services: ServicesDep, time_after: Epoch, time_before: Epoch, min_sessions: Minimum = 1
) -> list[ActiveUserMetrics]:
    return await _periods(org, services, time_after, time_before, DAY, min_sessions)


@router.get("/metrics/wau", response_model=list[ActiveUserMetrics])
async def get_weekly_active_users(
    org: OrgId, services: ServicesDep, time_after: Epoch, time_before: Epoch, min_sessions: Minimum = 1
) -> list[ActiveUserMetrics]:
    return await _periods(org, services, time_after, time_before, 7 * DAY, min_sessions)


@router.get("/metrics/mau", response_model=list[ActiveUserMetrics])
async def get_monthly_active_users(
    org: OrgId, services: ServicesDep, time_after: Epoch, time_before: Epoch, min_sessions: Minimum = 1
) -> list[ActiveUserMetrics]:
    return await _periods(org, services, time_after, time_before, 30 * DAY, min_sessions)


@router.get("/metrics/prs", response_model=PrMetricsResponse)
async def get_pr_metrics(org: OrgId, services: ServicesDep, time_after: Epoch, time_before: Epoch) -> PrMetricsResponse:
    prs = await services.metrics.pull_requests(org, Window(time_after, time_before))
    return PrMetricsResponse(
        prs_created_count=prs.created,
        prs_opened_count=prs.opened,
        prs_merged_count=prs.merged,
        prs_closed_count=prs.closed,
    )


@router.get("/metrics/searches", response_model=SearchMetricsResponse)
async def get_search_metrics(org: OrgId, time_after: Epoch, time_before: Epoch) -> SearchMetricsResponse:
    Window(time_after, time_before)
    del org
    return SearchMetricsResponse(searches_created_count=0)


@router.get("/metrics/sessions", response_model=SessionMetricsResponse)
async def get_session_metrics(
    request: Request,
    org: OrgId,
    services: ServicesDep,
    time_after: Epoch,
    time_before: Epoch,
    playbook_id: str | None = None,
    service_user_ids: Annotated[list[str] | None, Query()] = None,
    user_ids: Annotated[list[str] | None, Query()] = None,
) -> SessionMetricsResponse:
    m = await services.metrics.sessions(
        org,
        Window(time_after, time_before),
        playbook_id=playbook_id,
        service_user_ids=multi(request, "service_user_ids", service_user_ids),
        user_ids=multi(request, "user_ids", user_ids),
    )
    return SessionMetricsResponse(
        sessions_created_count=m.count,
        sessions_created_with_playbook_count=m.with_playbook,
        sessions_created_with_search_count=0,
        avg_acus_per_session=m.avg_acus,
        sessions_created_by_origin=CountsByOrigin(
            **{k: v for k, v in m.by_origin.items() if k in CountsByOrigin.model_fields}
        ),
        sessions_created_by_size=CountsBySize(**m.by_size),
        sessions_with_merged_prs_count=m.with_merged_prs,
        sessions_with_merged_prs_by_size=CountsBySize(**m.with_merged_prs_by_size),
    )


@router.get("/metrics/usage", response_model=UsageMetricsResponse)
async def get_usage_metrics(
    org: OrgId, services: ServicesDep, time_after: Epoch, time_before: Epoch
) -> UsageMetricsResponse:
    window = Window(time_after, time_before)
    sessions = await services.metrics.sessions(org, window)
    prs = await services.metrics.pull_requests(org, window)
    return UsageMetricsResponse(
        sessions_count=sessions.count, prs_created_count=prs.created, prs_merged_count=prs.merged, searches_count=0
    )
