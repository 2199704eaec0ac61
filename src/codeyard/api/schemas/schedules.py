"""Schedule schemas (devin-api-reference §8.2; contract §8).

Requests accept the reference's field names and the seed's (``cron_schedule``, ``is_enabled``); responses
carry both spellings. Times on the wire are ISO-8601 UTC strings, unlike every other resource.
"""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from codeyard.api.schemas.common import Identifier, Name, Request, ShortText, Tag
from codeyard.errors import FieldError
from codeyard.services.schedules import OPTION_FIELDS, ScheduleInput

Prompt = Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]
Cron = Annotated[str, StringConstraints(max_length=256)]
Zone = Annotated[str, StringConstraints(max_length=64)]
ScheduleType = Literal["recurring", "one_time"]
NotifyOn = Literal["always", "failure", "never"]

# Request field → the service's name for it, where the two spellings differ.
_ALIASES = {"cron_schedule": "frequency", "is_enabled": "enabled"}


class _ScheduleFields(Request):
    prompt: Prompt | None = None
    name: Name | None = None
    agent: ShortText | None = None
    schedule_type: ScheduleType | None = None
    frequency: Cron | None = None
    cron_schedule: Cron | None = None
    """The seed's name for ``frequency``."""
    timezone: Zone | None = None
    """IANA zone the cron expression is evaluated in (our extension; default UTC)."""
    scheduled_at: datetime | None = None
    """For ``one_time``: an ISO-8601 instant; without an offset it is wall time in ``timezone``."""
    interval_count: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    """Fire on every N-th due time (the first due time fires)."""
    notify_on: NotifyOn | None = None
    playbook_id: Identifier | None = None
    bypass_approval: bool | None = None
    create_as_user_id: Identifier | None = None
    platform: ShortText | None = None
    slack_channel_id: ShortText | None = None
    slack_team_id: ShortText | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] | None = None
    target_devin_id: Identifier | None = None
    enabled: bool | None = None
    is_enabled: bool | None = None
    """The seed's name for ``enabled``."""
    run_as_user_id: Identifier | None = None
    """The PATCH spelling of ``create_as_user_id``; ``null`` runs as the schedule's service user."""

    def to_input(self) -> ScheduleInput:
        """The service's input. Of two spellings of one setting the non-null one counts (clients that send
        every field send ``null`` for the other); two different values are refused (422)."""
        sent = set(self.model_fields_set)
        chosen: dict[str, tuple[str, object]] = {}
        for alias, canonical in _ALIASES.items():
            values = [(name, getattr(self, name)) for name in (canonical, alias) if name in sent]
            present = [(name, value) for name, value in values if value is not None]
            if len(present) == 2 and present[0][1] != present[1][1]:
                raise FieldError(alias, f"{alias} and {canonical} are the same setting; send one of them")
            if values:
                chosen[canonical] = (present or values)[0]
        options = {key: getattr(self, key) for key in OPTION_FIELDS if key in sent}
        if "run_as_user_id" in sent:
            options["create_as_user_id"] = self.run_as_user_id
        frequency_field, frequency = chosen.get("frequency", ("frequency", None))
        enabled = chosen.get("enabled", ("enabled", None))[1]
        return ScheduleInput(
            given=frozenset(_ALIASES.get(name, name) for name in sent if name != "run_as_user_id"),
            prompt=self.prompt,
            name=self.name,
            agent=self.agent,
            schedule_type=self.schedule_type,
            frequency=frequency if isinstance(frequency, str) else None,
            frequency_field=frequency_field,
            timezone=self.timezone,
            scheduled_at=self.scheduled_at,
            interval_count=self.interval_count,
            notify_on=self.notify_on,
            playbook_id=self.playbook_id,
            tags=self.tags,
            target_devin_id=self.target_devin_id,
            enabled=enabled if isinstance(enabled, bool) else None,
            options=options,
        )


class ScheduleCreate(_ScheduleFields):
    prompt: Prompt
    """The prompt of every session the schedule starts (or the message sent to ``target_devin_id``)."""


class ScheduleUpdate(_ScheduleFields):
    """PATCH: only the fields sent change; ``null`` clears a nullable field such as ``playbook_id``."""


class SchedulePlaybook(BaseModel):
    playbook_id: str
    title: str | None = None


class ScheduleResponse(BaseModel):
    scheduled_session_id: str
    schedule_id: str
    org_id: str
    name: str
    prompt: str
    agent: str
    enabled: bool
    is_enabled: bool
    frequency: str | None = None
    cron_schedule: str | None = None
    timezone: str
    schedule_type: str
    scheduled_at: str | None = None
    next_run_at: str | None = None
    notify_on: str
    playbook: SchedulePlaybook | None = None
    playbook_id: str | None = None
    consecutive_failures: int
    last_executed_at: str | None = None
    last_error_at: str | None = None
    last_error_message: str | None = None
    created_at: str
    updated_at: str
    created_by: str | None = None
    last_edited_by: str | None = None
    bypass_approval: bool | None = None
    interval_count: int | None = None
    platform: str | None = None
    slack_channel_id: str | None = None
    slack_team_id: str | None = None
    tags: list[str]
    target_devin_id: str | None = None
    # codeyard extensions
    create_as_user_id: str | None = None
    skipped_count: int = 0
    """Due times missed while no server was running and not fired (only the latest missed one fires)."""
