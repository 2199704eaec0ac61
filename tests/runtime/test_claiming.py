"""Claiming is atomic across runners, FIFO, and leases and inactivity behave (services on a real SQLite file)."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from codeyard.cli.server import prepare
from codeyard.services.container import Services
from codeyard.services.principal import Principal, Role
from codeyard.services.sessions import NewSession
from codeyard.storage.db import Database
from tests.conftest import make_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Pair:
    """Two "processes" (their own services and database engines) on one SQLite file, sharing a test clock."""

    a: Services
    b: Services
    principal: Principal
    org: str
    clock: Clock

    async def running(self, prompt: str = "one", runner: str = "r") -> str:
        """A session claimed by ``runner``, started, with its prompt taken into the agent's history."""
        row = await self.a.sessions.create(self.principal, self.org, NewSession(prompt=prompt))
        await self.a.runs.claim_next(runner, 60)
        await self.a.runs.start(row.id, runner)
        await self.a.runs.absorb_user_messages(
            row.id, runner, lambda text: {"message": {"role": "user", "content": text}}
        )
        return row.id


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    clock = Clock()
    settings = make_settings(tmp_path / "data")
    db_a, _ = await prepare(settings)
    a = Services(settings, db_a, clock=clock)
    b = Services(settings, Database(settings.resolved_database_url), clock=clock)
    org = (await a.identity.list_orgs())[0].id
    user = (await a.identity.list_service_users(org))[0]
    yield Pair(a, b, Principal(user.id, user.name, org, Role.ORG_ADMIN, "key"), org, clock)


async def test_two_runners_never_claim_the_same_session(pair: Pair) -> None:
    a, b, principal, org = pair.a, pair.b, pair.principal, pair.org
    created = [await a.sessions.create(principal, org, NewSession(prompt=f"task {i}")) for i in range(30)]

    async def drain(services: Services, runner: str) -> list[str]:
        got = []
        while (row := await services.runs.claim_next(runner, 60)) is not None:
            got.append(row.id)
        return got

    first, second = await asyncio.gather(drain(a, "host:1:a"), drain(b, "host:2:b"))
    assert sorted(first + second) == sorted(r.id for r in created)
    assert not set(first) & set(second)
    assert first == sorted(first, key=[r.id for r in created].index)  # each runner took them oldest first
    row = await a.runs.get(created[0].id)
    assert row.status == "claimed" and row.claimed_by in ("host:1:a", "host:2:b")


async def test_queue_positions_and_lease_takeover(pair: Pair) -> None:
    a, b, principal, org, clock = pair.a, pair.b, pair.principal, pair.org, pair.clock
    s1 = await a.sessions.create(principal, org, NewSession(prompt="one"))
    s2 = await a.sessions.create(principal, org, NewSession(prompt="two"))
    assert await a.sessions.queue_positions([s1.id, s2.id]) == {s1.id: 1, s2.id: 2}
    claimed = await a.runs.claim_next("host:1:a", 20)
    assert claimed is not None and claimed.id == s1.id
    await a.runs.start(s1.id, "host:1:a")
    assert await a.sessions.queue_positions([s1.id, s2.id]) == {s2.id: 1}
    assert (await b.runs.claim_next("host:2:b", 20)).id == s2.id  # type: ignore[union-attr]
    assert await b.runs.claim_next("host:2:b", 20) is None  # s1's lease is still valid
    clock.now += 21  # runner a died: its lease ran out
    taken = await b.runs.claim_next("host:2:b", 20)
    assert taken is not None and taken.id == s1.id and taken.status == "resuming"
    assert await a.runs.heartbeat("host:1:a", [s1.id], 20) == {s1.id}  # a learns it lost the session


async def test_dead_runners_on_this_host_are_expired_at_start(pair: Pair) -> None:
    a, _b, principal, org = pair.a, pair.b, pair.principal, pair.org
    s1 = await a.sessions.create(principal, org, NewSession(prompt="one"))
    await a.runs.claim_next("myhost:999999:dead", 600)
    assert await a.runs.claim_next("myhost:1:new", 600) is None
    assert await a.runs.expire_dead_runners("myhost", lambda pid: pid != 999999) == 1
    again = await a.runs.claim_next("myhost:1:new", 600)
    assert again is not None and again.id == s1.id


async def test_waiting_too_long_suspends_for_inactivity(pair: Pair) -> None:
    a, _b, principal, org, clock = pair.a, pair.b, pair.principal, pair.org, pair.clock
    sid = await pair.running()
    await a.runs.wait_for_user(sid, "r")
    clock.now += 100
    assert await a.runs.sweep_inactive(300) == []
    clock.now += 300
    assert await a.runs.sweep_inactive(300) == [sid]
    row = await a.runs.get(sid)
    assert (row.status, row.status_detail) == ("suspended", "inactivity")
    resumed = await a.sessions.send_message(principal, org, sid, "back again")
    assert resumed.status == "resuming"


async def test_a_reply_already_waiting_keeps_the_session_runnable(pair: Pair) -> None:
    a, _b, principal, org = pair.a, pair.b, pair.principal, pair.org
    sid = await pair.running()
    await a.sessions.send_message(principal, org, sid, "an answer before the question was stored")
    await a.runs.wait_for_user(sid, "r")
    row = await a.runs.get(sid)
    assert (row.status, row.status_detail, row.claimed_by) == ("running", "working", None)
    again = await a.runs.claim_next("r2", 60)
    assert again is not None and again.id == sid
