"""Resources across tenants (issue 8, item 6): the queue takes turns across organizations, and the workspaces of
sessions that ended long ago are deleted (services and runner parts on a real SQLite file)."""

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from codeyard.cli.server import prepare
from codeyard.domain.queue import fair_order
from codeyard.runner.retention import sweep_workspaces
from codeyard.services.container import Services
from codeyard.services.principal import Principal, Role
from codeyard.services.sessions import NewSession
from tests.conftest import make_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    services: Services
    clock: Clock
    orgs: dict[str, Principal]
    data_dir: Path

    async def create(self, org: str, prompt: str) -> str:
        principal = self.orgs[org]
        assert principal.org_id is not None
        return (await self.services.sessions.create(principal, principal.org_id, NewSession(prompt=prompt))).id


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    clock = Clock()
    settings = make_settings(tmp_path / "data")
    db, _ = await prepare(settings)
    services = Services(settings, db, clock=clock)
    orgs: dict[str, Principal] = {}
    for name in ("big", "small"):
        org = await services.identity.create_org(name)
        user = await services.identity.create_service_user(f"{name}-admin", Role.ORG_ADMIN, org.id)
        orgs[name] = Principal(user.id, user.name, org.id, Role.ORG_ADMIN, "key")
    yield Env(services, clock, orgs, settings.data_dir)
    await db.dispose()


def test_fair_order_takes_turns_and_counts_running_sessions() -> None:
    waiting = [("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B"), ("c1", "C"), ("b2", "B")]
    assert fair_order(waiting, {}) == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert fair_order(waiting, {"A": 2}) == ["b1", "c1", "b2", "a1", "a2", "a3"]


async def test_an_org_that_queued_many_sessions_does_not_starve_another(env: Env) -> None:
    flood = [await env.create("big", f"flood {i}") for i in range(6)]
    late = await env.create("small", "one small task")
    positions = await env.services.sessions.queue_positions([*flood, late])
    assert positions[late] == 2  # not 7: the small org's only session is served in the first round
    order = []
    while (row := await env.services.runs.claim_next("host:1:r", 60)) is not None:
        order.append(row.id)
    assert order[:2] == [flood[0], late]
    assert order[2:] == flood[1:]


async def test_queue_position_follows_the_claim_order(env: Env) -> None:
    big = [await env.create("big", f"b{i}") for i in range(3)]
    small = [await env.create("small", f"s{i}") for i in range(2)]
    first = await env.services.runs.claim_next("host:1:r", 60)
    assert first is not None and first.id == big[0]
    positions = await env.services.sessions.queue_positions([*big, *small])
    ordered = sorted(positions, key=positions.__getitem__)
    # the big org already holds a slot, so the small org goes first; then they take turns (older first in a round)
    assert ordered == [small[0], big[1], small[1], big[2]]
    _row, position = await env.services.sessions.get_with_position(env.orgs["small"].org_id or "", small[1])
    assert position == 3
    claimed = [row.id for _ in range(4) if (row := await env.services.runs.claim_next("host:1:r", 60)) is not None]
    assert claimed == ordered


async def test_workspaces_of_sessions_ended_long_ago_are_deleted(env: Env) -> None:
    root = env.data_dir / "workspaces"

    async def finished(prompt: str) -> str:
        sid = await env.create("big", prompt)
        row = await env.services.runs.claim_next("host:1:r", 60)
        assert row is not None and row.id == sid
        await env.services.runs.start(sid, "host:1:r")
        await env.services.runs.absorb_user_messages(sid, "host:1:r", lambda text: {"message": {"content": text}})
        await env.services.runs.finish(sid, "host:1:r", "done")
        return sid

    old = await finished("old work")
    env.clock.now += 8 * 86400
    recent = await finished("recent work")
    waiting = await env.create("small", "still queued")
    for sid in (old, recent, waiting, "devin-" + "0" * 32):
        (root / sid / "repo").mkdir(parents=True)
        (root / sid / "repo" / "f.txt").write_text("x")
    outside = env.data_dir.parent / "keep"
    outside.mkdir()
    (outside / "precious").write_text("host")
    (root / old / "link").symlink_to(outside)  # planted by the agent: deleting must not follow it
    ancient = 1_000_000_000
    os.utime(root / ("devin-" + "0" * 32), (ancient, ancient))
    env.clock.now += 86400
    deleted = await sweep_workspaces(root, env.services.runs, 7)
    assert sorted(deleted) == sorted([old, "devin-" + "0" * 32])
    assert sorted(p.name for p in root.iterdir()) == sorted([recent, waiting])
    assert (outside / "precious").read_text() == "host"
    org = env.orgs["big"].org_id or ""
    events = await env.services.sessions.events(org, old, after=None, first=100)
    assert "workspace_deleted" in [e.event_type for e in events.items]
    assert await sweep_workspaces(root, env.services.runs, 0) == []  # 0 keeps them
