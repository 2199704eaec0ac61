"""The ticker on a real SQLite database with an injected clock: firing, DST, misfires, interval counts,
one-time and targeted schedules, outcomes, crash recovery, and two tickers racing on one database.

Sessions are started by the real sessions service; no runner runs, so outcomes are produced by applying
``codeyard.domain.lifecycle`` transitions to the stored session rows, as the runner would.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from codeyard.cli.server import prepare
from codeyard.domain.lifecycle import SessionState
from codeyard.scheduler.ticker import Ticker, plan
from codeyard.services.container import Services
from codeyard.services.playbooks import PlaybookSpec
from codeyard.services.principal import Principal, Role
from codeyard.services.schedule_runs import ClaimResult
from codeyard.services.schedules import SYSTEM_USER_ID, ScheduleInput, ScheduleView
from codeyard.services.sessions import NewSession, SessionFilters, apply_state, state_of
from codeyard.storage.db import Database
from codeyard.storage.tables import AgentSessionRow, MessageRow, Schedule, ScheduleRun, ServiceUser
from tests.conftest import make_settings
from tests.databases import clone_data_dir


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class FakeClock:
    """The one clock of the services and the ticker, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, moment: datetime) -> float:
        self.now = moment.timestamp()
        return self.now


@dataclass
class Env:
    services: Services
    db: Database
    clock: FakeClock
    ticker: Ticker
    org_id: str
    admin: Principal

    async def schedule(self, **fields: Any) -> ScheduleView:
        """A schedule created through the service, as the org admin; fields as a client would send them."""
        fields.setdefault("prompt", "Check the nightly build")
        return await self.services.schedules.create(self.admin, self.org_id, ScheduleInput(frozenset(fields), **fields))

    async def tick_at(self, moment: datetime) -> None:
        self.clock.set(moment)
        await self.ticker.tick()

    async def sessions_of(self, schedule_id: str) -> list[AgentSessionRow]:
        page = await self.services.sessions.list_sessions(
            self.org_id, SessionFilters(schedule_id=schedule_id), after=None, first=200
        )
        return sorted(page.items, key=lambda row: row.pk)

    async def runs_of(self, schedule_id: str) -> list[ScheduleRun]:
        async with self.db.read() as s:
            query = select(ScheduleRun).where(ScheduleRun.schedule_id == schedule_id).order_by(ScheduleRun.pk)
            return list(await s.scalars(query))

    async def fired(self, schedule_id: str) -> list[datetime]:
        return [datetime.fromtimestamp(run.due_at, UTC) for run in await self.runs_of(schedule_id)]

    async def row(self, schedule_id: str) -> Schedule:
        return (await self.services.schedules.get(self.org_id, schedule_id)).row

    async def drive(self, session_id: str, *steps: str, **columns: Any) -> None:
        """Move a session through lifecycle transitions, as the runner would."""
        async with self.db.write() as s:
            row = await s.scalar(select(AgentSessionRow).where(AgentSessionRow.id == session_id))
            assert row is not None
            state: SessionState = state_of(row)
            for step in steps:
                state = getattr(state, step)()
            await apply_state(s, row, state, self.clock())
            for name, value in columns.items():
                setattr(row, name, value)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated, bootstrapped data dir per module; each test works on a copy (migrations are slow)."""
    data_dir = tmp_path_factory.mktemp("template") / "data"

    async def build() -> None:
        db, _ = await prepare(make_settings(data_dir))
        await db.dispose()

    asyncio.run(build())
    return data_dir


async def build_env(template: Path, data_dir: Path, start: datetime) -> tuple[Env, list[Database]]:
    clone_data_dir(template, data_dir)
    settings = make_settings(data_dir)
    first_db = Database(settings.resolved_database_url)
    clock = FakeClock(start)
    services = Services(settings, first_db, clock=clock)
    org_id = json.loads((data_dir / "bootstrap.json").read_text())["org_id"]
    users = await services.identity.list_service_users(org_id)
    user = next(u for u in users if u.role == Role.ORG_ADMIN)
    admin = Principal(user.id, user.name, org_id, Role.ORG_ADMIN, "test-key")
    return Env(services, first_db, clock, Ticker(services.schedule_runs, clock), org_id, admin), [first_db]


@pytest.fixture
async def env(template: Path, tmp_path: Path) -> AsyncIterator[Env]:
    built, dbs = await build_env(template, tmp_path / "data", utc(2026, 1, 5, 8, 0, 10))
    yield built
    for db in dbs:
        await db.dispose()


# --- firing -------------------------------------------------------------------------------------------


async def test_a_due_schedule_starts_one_automation_session_with_its_prompt_playbook_and_tags(env: Env) -> None:
    playbook = await env.services.playbooks.create(env.admin.service_user_id, env.org_id, PlaybookSpec("Nightly", "b"))
    view = await env.schedule(
        prompt="Run the nightly checks", frequency="*/15 * * * *", playbook_id=playbook.id, tags=["nightly", "ci"]
    )
    sid = view.row.id
    assert view.row.next_run_at == utc(2026, 1, 5, 8, 15).timestamp()

    await env.tick_at(utc(2026, 1, 5, 8, 14, 59))
    assert await env.sessions_of(sid) == []

    await env.tick_at(utc(2026, 1, 5, 8, 15, 1))
    await env.tick_at(utc(2026, 1, 5, 8, 15, 3))
    sessions = await env.sessions_of(sid)
    assert len(sessions) == 1
    session = sessions[0]
    assert (session.origin, session.schedule_id, session.prompt) == ("automation", sid, "Run the nightly checks")
    assert (session.playbook_id, session.tags) == (playbook.id, ["nightly", "ci"])
    assert session.service_user_id == env.admin.service_user_id
    assert session.request["schedule_due_at"] == "2026-01-05T08:15:00Z"

    row = await env.row(sid)
    assert row.next_run_at == utc(2026, 1, 5, 8, 30).timestamp()
    assert row.last_executed_at == utc(2026, 1, 5, 8, 15, 1).timestamp()
    assert (row.skipped_count, row.consecutive_failures) == (0, 0)
    assert [run.session_id for run in await env.runs_of(sid)] == [session.id]


async def test_after_downtime_only_the_latest_missed_time_fires_and_the_others_are_counted(env: Env) -> None:
    sid = (await env.schedule(frequency="0 * * * *")).row.id  # created 08:00:10, first due 09:00

    await env.tick_at(utc(2026, 1, 5, 13, 10))

    assert await env.fired(sid) == [utc(2026, 1, 5, 13)]
    assert len(await env.sessions_of(sid)) == 1
    row = await env.row(sid)
    assert row.skipped_count == 4  # 09:00, 10:00, 11:00 and 12:00
    assert row.next_run_at == utc(2026, 1, 5, 14).timestamp()

    await env.tick_at(utc(2026, 1, 5, 14, 0, 2))
    assert await env.fired(sid) == [utc(2026, 1, 5, 13), utc(2026, 1, 5, 14)]
    assert (await env.row(sid)).skipped_count == 4


async def test_interval_count_fires_every_nth_due_time_starting_with_the_first(env: Env) -> None:
    sid = (await env.schedule(frequency="0 * * * *", interval_count=3)).row.id

    for hour in range(9, 17):
        await env.tick_at(utc(2026, 1, 5, hour, 0, 30))

    assert await env.fired(sid) == [utc(2026, 1, 5, 9), utc(2026, 1, 5, 12), utc(2026, 1, 5, 15)]
    assert len(await env.sessions_of(sid)) == 3


async def test_missed_times_under_an_interval_count_only_the_ones_that_would_have_fired(env: Env) -> None:
    sid = (await env.schedule(frequency="0 * * * *", interval_count=2)).row.id

    await env.tick_at(utc(2026, 1, 5, 13, 30))  # due 09..13: slots 0..4, slot 4 (13:00) fires

    assert await env.fired(sid) == [utc(2026, 1, 5, 13)]
    assert (await env.row(sid)).skipped_count == 2  # slots 0 (09:00) and 2 (11:00)


async def test_a_one_time_schedule_fires_once_then_disables_itself(env: Env) -> None:
    view = await env.schedule(schedule_type="one_time", scheduled_at=utc(2026, 1, 5, 9, 30))
    sid = view.row.id
    assert view.row.next_run_at == utc(2026, 1, 5, 9, 30).timestamp()

    await env.tick_at(utc(2026, 1, 5, 9, 29))
    await env.tick_at(utc(2026, 1, 5, 9, 31))
    await env.tick_at(utc(2026, 1, 6, 9, 31))

    assert await env.fired(sid) == [utc(2026, 1, 5, 9, 30)]
    row = await env.row(sid)
    assert (row.enabled, row.next_run_at) == (False, None)


async def test_a_disabled_schedule_does_not_fire_and_enabling_starts_from_now(env: Env) -> None:
    sid = (await env.schedule(frequency="0 * * * *", enabled=False)).row.id
    assert (await env.row(sid)).next_run_at is None

    await env.tick_at(utc(2026, 1, 5, 11, 5))
    assert await env.fired(sid) == []

    enabled = await env.services.schedules.update(
        env.admin, env.org_id, sid, ScheduleInput(frozenset({"enabled"}), enabled=True)
    )
    assert enabled.row.next_run_at == utc(2026, 1, 5, 12).timestamp()
    await env.tick_at(utc(2026, 1, 5, 12, 0, 1))
    assert await env.fired(sid) == [utc(2026, 1, 5, 12)]
    assert (await env.row(sid)).skipped_count == 0


async def test_a_deleted_schedule_stops_and_its_sessions_stay(env: Env) -> None:
    sid = (await env.schedule(frequency="0 * * * *")).row.id
    await env.tick_at(utc(2026, 1, 5, 9, 0, 1))
    assert len(await env.sessions_of(sid)) == 1

    await env.services.schedules.delete(env.admin, env.org_id, sid)
    await env.tick_at(utc(2026, 1, 5, 10, 0, 1))
    await env.tick_at(utc(2026, 1, 5, 11, 0, 1))

    assert len(await env.sessions_of(sid)) == 1
    assert await env.fired(sid) == [utc(2026, 1, 5, 9)]


async def test_editing_the_prompt_keeps_an_overdue_due_time_and_fires_the_new_prompt(env: Env) -> None:
    sid = (await env.schedule(frequency="0 9 * * *", prompt="old")).row.id
    env.clock.set(utc(2026, 1, 5, 9, 0, 2))  # due, but the ticker has not run yet
    await env.services.schedules.update(env.admin, env.org_id, sid, ScheduleInput(frozenset({"prompt"}), prompt="new"))

    await env.ticker.tick()

    assert [s.prompt for s in await env.sessions_of(sid)] == ["new"]


# --- DST ----------------------------------------------------------------------------------------------

DST_CASES = [
    pytest.param(
        "America/New_York",
        "30 2 * * *",
        utc(2025, 3, 8, 12),
        utc(2025, 3, 10, 12),
        [utc(2025, 3, 9, 7), utc(2025, 3, 10, 6, 30)],  # 02:30 does not exist on Mar 9: runs at 03:00 EDT
        id="new-york-spring-fixed",
    ),
    pytest.param(
        "America/New_York",
        "30 1 * * *",
        utc(2025, 11, 1, 12),
        utc(2025, 11, 3, 12),
        [utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)],  # 01:30 happens twice on Nov 2: runs once
        id="new-york-fall-fixed",
    ),
    pytest.param(
        "Europe/Berlin",
        "30 2 * * *",
        utc(2025, 3, 29, 12),
        utc(2025, 3, 31, 12),
        [utc(2025, 3, 30, 1), utc(2025, 3, 31, 0, 30)],
        id="berlin-spring-fixed",
    ),
    pytest.param(
        "Europe/Berlin",
        "30 2 * * *",
        utc(2025, 10, 25, 12),
        utc(2025, 10, 27, 12),
        [utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)],
        id="berlin-fall-fixed",
    ),
    pytest.param(
        "America/New_York",
        "*/30 * * * *",
        utc(2025, 3, 9, 5),
        utc(2025, 3, 9, 10),
        [utc(2025, 3, 9, 5) + timedelta(minutes=30 * step) for step in range(1, 11)],
        id="new-york-spring-half-hours",
    ),
    pytest.param(
        "America/New_York",
        "*/30 * * * *",
        utc(2025, 11, 2, 4),
        utc(2025, 11, 2, 9),
        [utc(2025, 11, 2, 4) + timedelta(minutes=30 * step) for step in range(1, 11)],
        id="new-york-fall-half-hours",
    ),
    pytest.param(
        "Europe/Berlin",
        "*/30 * * * *",
        utc(2025, 3, 29, 23),
        utc(2025, 3, 30, 3),
        [utc(2025, 3, 29, 23) + timedelta(minutes=30 * step) for step in range(1, 9)],
        id="berlin-spring-half-hours",
    ),
    pytest.param(
        "Europe/Berlin",
        "*/30 * * * *",
        utc(2025, 10, 25, 22),
        utc(2025, 10, 26, 3),
        [utc(2025, 10, 25, 22) + timedelta(minutes=30 * step) for step in range(1, 11)],
        id="berlin-fall-half-hours",
    ),
]


@pytest.mark.parametrize(("zone", "cron", "start", "end", "expected"), DST_CASES)
async def test_dst_transitions_fire_each_due_time_once_in_the_schedules_zone(
    template: Path, tmp_path: Path, zone: str, cron: str, start: datetime, end: datetime, expected: list[datetime]
) -> None:
    env, dbs = await build_env(template, tmp_path / "data", start)
    try:
        sid = (await env.schedule(frequency=cron, timezone=zone)).row.id
        assert (await env.row(sid)).next_run_at == expected[0].timestamp()
        # A tick one minute after each hour (fixed times) or half hour: it sees at most one due time, so
        # nothing is skipped, and a second run in a repeated hour would show up at the next tick.
        step = timedelta(minutes=30 if cron.startswith("*/30") else 60)
        moment = start
        while moment <= end:
            moment += step
            await env.tick_at(moment + timedelta(minutes=1))
        fired = [f for f in await env.fired(sid) if f <= end]
        assert fired == expected
        assert len([s for s in await env.sessions_of(sid) if s.created_at <= end.timestamp() + 60]) == len(expected)
        assert (await env.row(sid)).skipped_count == 0
    finally:
        for db in dbs:
            await db.dispose()


# --- targets, outcomes and failures -------------------------------------------------------------------


async def test_target_devin_id_sends_the_prompt_to_that_session_and_a_closed_one_is_a_failure(env: Env) -> None:
    target = await env.services.sessions.create(env.admin, env.org_id, NewSession(prompt="long-lived"))
    sid = (await env.schedule(frequency="0 * * * *", prompt="status please", target_devin_id=target.id)).row.id

    await env.tick_at(utc(2026, 1, 5, 9, 0, 1))

    assert await env.sessions_of(sid) == []
    async with env.db.read() as s:
        messages = list(await s.scalars(select(MessageRow.message).where(MessageRow.session_id == target.id)))
    assert messages == ["long-lived", "status please"]
    assert [run.session_id for run in await env.runs_of(sid)] == [target.id]
    assert (await env.row(sid)).last_executed_at == env.clock()

    await env.services.sessions.terminate(env.org_id, target.id)
    await env.tick_at(utc(2026, 1, 5, 10, 0, 1))

    row = await env.row(sid)
    assert row.consecutive_failures == 1
    assert row.last_error_at == env.clock()
    assert row.last_error_message is not None and target.id in row.last_error_message
    assert [run.outcome for run in await env.runs_of(sid)] == ["delivered", "failure"]


async def test_session_outcomes_drive_the_failure_counters(env: Env) -> None:
    sid = (await env.schedule(frequency="0 * * * *")).row.id

    async def fire_and_end(hour: int, *steps: str, **columns: Any) -> None:
        await env.tick_at(utc(2026, 1, 5, hour, 0, 1))
        session = (await env.sessions_of(sid))[-1]
        env.clock.set(utc(2026, 1, 5, hour, 20))
        await env.drive(session.id, *steps, **columns)
        await env.tick_at(utc(2026, 1, 5, hour, 30))

    await fire_and_end(9, "claim", "start", "fail", error_message="the model is unreachable")
    row = await env.row(sid)
    assert row.consecutive_failures == 1
    assert row.last_error_message == "the model is unreachable"
    assert row.last_error_at == utc(2026, 1, 5, 9, 20).timestamp()

    await fire_and_end(10, "claim", "start", "suspend_usage")
    assert (await env.row(sid)).consecutive_failures == 2

    await fire_and_end(11, "claim", "start", "ask_user")  # waiting for the user counts as a success
    row = await env.row(sid)
    assert row.consecutive_failures == 0
    assert row.last_error_message is not None and "usage_limit_exceeded" in row.last_error_message  # kept

    await fire_and_end(12, "claim", "start", "fail")
    await fire_and_end(13, "claim", "start", "finish")
    assert (await env.row(sid)).consecutive_failures == 0
    assert [run.outcome for run in await env.runs_of(sid)] == ["failure", "failure", "success", "failure", "success"]


async def test_a_session_still_running_leaves_the_run_open(env: Env) -> None:
    sid = (await env.schedule(frequency="0 * * * *")).row.id
    await env.tick_at(utc(2026, 1, 5, 9, 0, 1))
    await env.drive((await env.sessions_of(sid))[0].id, "claim", "start")

    await env.tick_at(utc(2026, 1, 5, 9, 30))

    assert [run.outcome for run in await env.runs_of(sid)] == [None]
    assert (await env.row(sid)).consecutive_failures == 0


async def test_outcomes_are_found_page_by_page_behind_a_session_that_never_ends(env: Env) -> None:
    ticker = Ticker(env.services.schedule_runs, env.clock, review=2)  # two unsettled runs read per tick
    ids = [(await env.schedule(frequency="0 9 * * *", prompt=f"job {n}")).row.id for n in range(5)]
    env.clock.set(utc(2026, 1, 5, 9, 0, 1))
    await ticker.tick()
    sessions = [(await env.sessions_of(sid))[0] for sid in ids]
    for session in sessions[:3]:  # still working: the three oldest runs stay unsettled
        await env.drive(session.id, "claim", "start")
    for session in sessions[3:]:
        await env.drive(session.id, "claim", "start", "fail", error_message="boom")

    for _ in range(3):
        await ticker.tick()

    assert [(await env.row(sid)).consecutive_failures for sid in ids] == [0, 0, 0, 1, 1]
    await env.drive(sessions[1].id, "finish")
    for _ in range(3):
        await ticker.tick()
    assert [[run.outcome for run in await env.runs_of(sid)] for sid in ids] == [
        [None],
        ["success"],
        [None],
        ["failure"],
        ["failure"],
    ]


async def test_a_spawn_that_fails_is_recorded_and_the_schedule_keeps_going(env: Env) -> None:
    playbook = await env.services.playbooks.create(env.admin.service_user_id, env.org_id, PlaybookSpec("Gone", "b"))
    sid = (await env.schedule(frequency="0 * * * *", playbook_id=playbook.id)).row.id
    await env.services.playbooks.delete(env.org_id, playbook.id)

    await env.tick_at(utc(2026, 1, 5, 9, 0, 1))

    row = await env.row(sid)
    assert row.consecutive_failures == 1
    assert row.last_error_message is not None and "playbook" in row.last_error_message
    assert row.next_run_at == utc(2026, 1, 5, 10).timestamp()
    assert await env.sessions_of(sid) == []


async def test_a_schedule_whose_next_time_cannot_be_computed_stops_with_an_error(env: Env) -> None:
    sid = (await env.schedule(frequency="0 * * * *")).row.id
    async with env.db.write() as s:  # e.g. a zone missing from a later tzdata release
        await s.execute(update(Schedule).where(Schedule.id == sid).values(timezone="Mars/Olympus_Mons"))

    await env.tick_at(utc(2026, 1, 5, 9, 0, 1))
    await env.tick_at(utc(2026, 1, 5, 10, 0, 1))

    row = await env.row(sid)
    assert (row.enabled, row.next_run_at, row.consecutive_failures) == (False, None, 1)
    assert row.last_error_message is not None and "Mars/Olympus_Mons" in row.last_error_message
    assert await env.fired(sid) == []


async def test_a_schedule_whose_creator_was_deleted_fires_as_the_system_user(env: Env) -> None:
    user = await env.services.identity.create_service_user("temp", Role.ORG_ADMIN, env.org_id)
    creator = Principal(user.id, user.name, env.org_id, Role.ORG_ADMIN, "k")
    view = await env.services.schedules.create(
        creator, env.org_id, ScheduleInput(frozenset({"prompt", "frequency"}), prompt="p", frequency="0 * * * *")
    )
    async with env.db.write() as s:
        await s.execute(update(ServiceUser).where(ServiceUser.id == user.id).values(deleted_at=env.clock()))

    await env.tick_at(utc(2026, 1, 5, 9, 0, 1))

    assert [s.service_user_id for s in await env.sessions_of(view.row.id)] == [SYSTEM_USER_ID]


# --- crash safety -------------------------------------------------------------------------------------


async def claim_only(env: Env, moment: datetime) -> ClaimResult:
    """The first half of a tick: claim what is due, spawn nothing (a process that dies right after)."""
    now = env.clock.set(moment)
    due = await env.services.schedule_runs.due(now, 10)
    return await env.services.schedule_runs.claim([plan(d, moment) for d in due], now)


async def test_a_run_claimed_by_a_process_that_died_before_spawning_is_spawned_once_after_the_grace(env: Env) -> None:
    sid = (await env.schedule(frequency="0 * * * *")).row.id
    claimed = await claim_only(env, utc(2026, 1, 5, 9, 0, 1))  # ... and the process dies here
    assert len(claimed.tickets) == 1

    await env.tick_at(utc(2026, 1, 5, 9, 0, 10))
    assert await env.sessions_of(sid) == []  # within the grace period the claimer may still be working

    await env.tick_at(utc(2026, 1, 5, 9, 0, 40))
    await env.tick_at(utc(2026, 1, 5, 9, 1, 30))
    sessions = await env.sessions_of(sid)
    assert len(sessions) == 1
    assert [run.session_id for run in await env.runs_of(sid)] == [sessions[0].id]


async def test_a_session_started_just_before_the_process_died_is_linked_not_started_again(env: Env) -> None:
    sid = (await env.schedule(frequency="0 * * * *")).row.id
    claimed = await claim_only(env, utc(2026, 1, 5, 9, 0, 1))
    await env.services.schedule_runs.spawn(claimed.tickets)
    async with env.db.write() as s:  # the link never committed
        await s.execute(update(ScheduleRun).where(ScheduleRun.schedule_id == sid).values(session_id=None))

    await env.tick_at(utc(2026, 1, 5, 9, 1))

    sessions = await env.sessions_of(sid)
    assert len(sessions) == 1
    assert [run.session_id for run in await env.runs_of(sid)] == [sessions[0].id]


async def test_a_second_spawn_of_one_run_is_terminated_so_one_session_stays_live(env: Env) -> None:
    sid = (await env.schedule(frequency="0 * * * *")).row.id
    claimed = await claim_only(env, utc(2026, 1, 5, 9, 0, 1))

    first = await env.services.schedule_runs.spawn(claimed.tickets)
    second = await env.services.schedule_runs.spawn(claimed.tickets)  # a stalled claimer waking up late

    assert len(first.sessions) == 1
    assert second.sessions == [] and len(second.duplicates) == 1
    live = [s for s in await env.sessions_of(sid) if not state_of(s).terminated]
    assert [s.id for s in live] == first.sessions


async def test_two_tickers_on_one_database_start_exactly_one_session_per_due_time(
    template: Path, tmp_path: Path
) -> None:
    env, dbs = await build_env(template, tmp_path / "data", utc(2026, 1, 5, 8, 0, 10))
    # A second "process": its own engine and services on the same SQLite file, and its own ticker.
    other_db = Database(env.services.settings.resolved_database_url)
    dbs.append(other_db)
    other = Services(env.services.settings, other_db, clock=env.clock)
    rival = Ticker(other.schedule_runs, env.clock)
    try:
        ids = [(await env.schedule(frequency="* * * * *", prompt=f"job {n}")).row.id for n in range(8)]
        for minute in range(1, 6):
            now = env.clock.set(utc(2026, 1, 5, 8, minute, 0))
            await asyncio.gather(env.ticker.tick(now), rival.tick(now + 0.5), env.ticker.tick(now + 1))
        for sid in ids:
            fired = await env.fired(sid)
            assert fired == [utc(2026, 1, 5, 8, minute) for minute in range(1, 6)]
            assert len(await env.sessions_of(sid)) == 5
    finally:
        for db in dbs:
            await db.dispose()
