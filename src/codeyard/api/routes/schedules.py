"""``/v3/organizations/{org_id}/schedules…`` (devin-api-reference §8.2; contract §8)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from codeyard.api.deps import Caller, OrgId, ServicesDep, require
from codeyard.api.schemas.common import Paginated
from codeyard.api.schemas.schedules import ScheduleCreate, SchedulePlaybook, ScheduleResponse, ScheduleUpdate
from codeyard.services.principal import Permission
from codeyard.services.schedules import ScheduleView

router = APIRouter(tags=["schedules"])
READ = [require(Permission.READ_SCHEDULES)]
MANAGE = [require(Permission.MANAGE_SCHEDULES)]


def iso(epoch: float | None) -> str | None:
    """Schedules are the one resource with ISO-8601 times on the wire (``2026-11-30T09:00:00Z``)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(view: ScheduleView) -> ScheduleResponse:
    row = view.row
    options = row.options or {}
    return ScheduleResponse(
        scheduled_session_id=row.id,
        schedule_id=row.id,
        org_id=row.org_id,
        name=row.name,
        prompt=row.prompt,
        agent=row.agent,
        enabled=row.enabled,
        is_enabled=row.enabled,
        frequency=row.frequency,
        cron_schedule=row.frequency,
        timezone=row.timezone,
        schedule_type=row.schedule_type,
        scheduled_at=iso(row.scheduled_at),
        next_run_at=iso(row.next_run_at),
        notify_on=row.notify_on,
        playbook=SchedulePlaybook(playbook_id=row.playbook_id, title=view.playbook_title) if row.playbook_id else None,
        playbook_id=row.playbook_id,
        consecutive_failures=row.consecutive_failures,
        last_executed_at=iso(row.last_executed_at),
        last_error_at=iso(row.last_error_at),
        last_error_message=row.last_error_message,
        created_at=iso(row.created_at) or "",
        updated_at=iso(row.updated_at) or "",
        created_by=row.created_by,
        last_edited_by=row.last_edited_by,
        bypass_approval=options.get("bypass_approval"),
        interval_count=row.interval_count,
        platform=options.get("platform"),
        slack_channel_id=options.get("slack_channel_id"),
        slack_team_id=options.get("slack_team_id"),
        tags=list(row.tags),
        target_devin_id=row.target_devin_id,
        create_as_user_id=options.get("create_as_user_id"),
        skipped_count=row.skipped_count,
    )


@router.post("/schedules", response_model=ScheduleResponse, dependencies=MANAGE)
async def create_schedule(body: ScheduleCreate, caller: Caller, org: OrgId, services: ServicesDep) -> ScheduleResponse:
    spec = body.to_input()
    if spec.options.get("create_as_user_id"):
        await services.sessions.check_user(org, spec.options["create_as_user_id"])
    return render(await services.schedules.create(caller, org, spec))


@router.get("/schedules", response_model=Paginated[ScheduleResponse], dependencies=READ)
async def list_schedules(
    org: OrgId,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Paginated[ScheduleResponse]:
    page = await services.schedules.list_schedules(org, limit=limit, offset=offset)
    return Paginated(
        items=[render(view) for view in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )


@router.get("/schedules/{schedule_id}", response_model=ScheduleResponse, dependencies=READ)
async def get_schedule(schedule_id: str, org: OrgId, services: ServicesDep) -> ScheduleResponse:
    return render(await services.schedules.get(org, schedule_id))


@router.patch("/schedules/{schedule_id}", response_model=ScheduleResponse, dependencies=MANAGE)
async def update_schedule(
    schedule_id: str, body: ScheduleUpdate, caller: Caller, org: OrgId, services: ServicesDep
) -> ScheduleResponse:
    spec = body.to_input()
    if spec.options.get("create_as_user_id"):
        await services.sessions.check_user(org, spec.options["create_as_user_id"])
    return render(await services.schedules.update(caller, org, schedule_id, spec))


@router.delete("/schedules/{schedule_id}", response_model=ScheduleResponse, dependencies=MANAGE)
async def delete_schedule(schedule_id: str, caller: Caller, org: OrgId, services: ServicesDep) -> ScheduleResponse:
    return render(await services.schedules.delete(caller, org, schedule_id))
