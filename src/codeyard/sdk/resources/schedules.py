"""`client.schedules`: sessions started on a cron schedule (in a time zone) or once at a given time."""

from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime
from typing import Unpack

from codeyard.sdk._request import Call, model, path, query
from codeyard.sdk.resources._base import AsyncResource, SyncResource
from codeyard.sdk.types import Page, Schedule, ScheduleCreate, ScheduleUpdate


def _json(fields: Mapping[str, object]) -> dict[str, object]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in fields.items()}


def _list(limit: int | None, offset: int | None) -> Call[Page[Schedule]]:
    return Call("GET", "/schedules", model(Page[Schedule]), query=query(limit=limit, offset=offset), paging="offset")


def _create(fields: ScheduleCreate) -> Call[Schedule]:
    return Call("POST", "/schedules", model(Schedule), json=_json(fields))


def _schedule(method: str, schedule_id: str) -> Call[Schedule]:
    return Call(method, path("schedules", schedule_id), model(Schedule))


def _update(schedule_id: str, fields: ScheduleUpdate) -> Call[Schedule]:
    return Call("PATCH", path("schedules", schedule_id), model(Schedule), json=_json(fields))


class Schedules(SyncResource):
    def list(self, *, limit: int | None = None, offset: int | None = None) -> Page[Schedule]:
        return self._run(_list(limit, offset))

    def list_all(self, *, limit: int | None = None) -> Iterator[Schedule]:
        return self._iterate(_list(limit, None))

    def create(self, **fields: Unpack[ScheduleCreate]) -> Schedule:
        """Create a schedule: `frequency` (5-field cron, in `timezone`) or `schedule_type="one_time"`."""
        return self._run(_create(fields))

    def get(self, schedule_id: str) -> Schedule:
        return self._run(_schedule("GET", schedule_id))

    def update(self, schedule_id: str, **fields: Unpack[ScheduleUpdate]) -> Schedule:
        """Change only the given fields (PATCH); None clears a nullable field such as `playbook_id`."""
        return self._run(_update(schedule_id, fields))

    def delete(self, schedule_id: str) -> Schedule:
        return self._run(_schedule("DELETE", schedule_id))


class AsyncSchedules(AsyncResource):
    async def list(self, *, limit: int | None = None, offset: int | None = None) -> Page[Schedule]:
        return await self._run(_list(limit, offset))

    def list_all(self, *, limit: int | None = None) -> AsyncIterator[Schedule]:
        return self._iterate(_list(limit, None))

    async def create(self, **fields: Unpack[ScheduleCreate]) -> Schedule:
        """Create a schedule: `frequency` (5-field cron, in `timezone`) or `schedule_type="one_time"`."""
        return await self._run(_create(fields))

    async def get(self, schedule_id: str) -> Schedule:
        return await self._run(_schedule("GET", schedule_id))

    async def update(self, schedule_id: str, **fields: Unpack[ScheduleUpdate]) -> Schedule:
        """Change only the given fields (PATCH); None clears a nullable field such as `playbook_id`."""
        return await self._run(_update(schedule_id, fields))

    async def delete(self, schedule_id: str) -> Schedule:
        return await self._run(_schedule("DELETE", schedule_id))
