"""The worker's pieces on a real database: claiming one session (and taking it from a dead runner, fenced), and on
real PostgreSQL the procrastinate side: a dead worker's job retried, a worker's liveness by its heartbeat, a
stop turned into the abort of the running job, a missed deferral made up."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import procrastinate
import pytest
from procrastinate.jobs import Job, Status

from codeyard.cli.server import prepare
from codeyard.services.container import Services
from codeyard.services.principal import Principal, Role
from codeyard.services.runs import LeaseLostError
from codeyard.services.sessions import NewSession
from codeyard.worker import queue
from tests.conftest import make_settings


@dataclass
class Env:
    services: Services
    principal: Principal
    org: str

    async def session(self, prompt: str = "go") -> str:
        row = await self.services.sessions.create(self.principal, self.org, NewSession(prompt=prompt))
        return row.id


async def _env(settings_dir: Path, **overrides: str) -> Env:
    settings = make_settings(settings_dir, **overrides)
    _db, services = await prepare(settings)
    org = (await services.identity.list_orgs())[0].id
    user = (await services.identity.list_service_users(org))[0]
    return Env(services, Principal(user.id, user.name, org, Role.ORG_ADMIN, "key"), org)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = await _env(tmp_path / "data")
    yield e
    await e.services.db.dispose()


@pytest.fixture
async def pg(tmp_path: Path, postgres_url: str) -> AsyncIterator[Env]:
    e = await _env(tmp_path / "data", database_url=postgres_url)
    yield e
    await e.services.db.dispose()


def test_a_worker_s_runner_id_names_its_procrastinate_worker() -> None:
    assert queue.worker_id_of("host:123:pw42") == 42
    assert queue.worker_id_of("host:123:0a1b2c3d") is None  # an embedded runner: its lease decides
    assert queue.worker_id_of("host:123:pw") is None
    assert queue.worker_id_of("host:123:pw4x") is None
    assert queue.worker_id_of("") is None


async def test_claiming_one_session_is_fenced(env: Env) -> None:
    runs = env.services.runs
    sid = await env.session()
    row = await runs.claim_session(sid, "host:1:pw1", 60)
    assert row is not None and row.claimed_by == "host:1:pw1"
    await runs.start(sid, "host:1:pw1")
    # a live holder keeps it; naming some other runner as dead changes nothing
    assert await runs.claim_session(sid, "host:2:pw2", 60) is None
    assert await runs.claim_session(sid, "host:2:pw2", 60, take_over="host:3:pw3") is None
    assert await runs.holder(sid) == "host:1:pw1"
    # the holder is dead: taken over at once, recorded, and the dead runner's writes are refused
    taken = await runs.claim_session(sid, "host:2:pw2", 60, take_over="host:1:pw1")
    assert taken is not None and taken.claimed_by == "host:2:pw2"
    assert taken.status == "resuming"
    events = [e.event_type for e in (await env.services.sessions.events(env.org, sid, after=None, first=100)).items]
    assert events.count("runner_lost") == 1
    with pytest.raises(LeaseLostError):
        await runs.record(sid, "host:1:pw1", [{"message": {"role": "assistant", "content": "late"}}])
    # a session at rest is nobody's to claim
    await runs.start(sid, "host:2:pw2")
    await runs.absorb_user_messages(sid, "host:2:pw2", lambda text: {"message": {"role": "user", "content": text}})
    await runs.finish(sid, "host:2:pw2", "done")
    assert await runs.claim_session(sid, "host:4:pw4", 60, take_over="host:2:pw2") is None
    assert await runs.runnable() == []


async def test_a_dead_worker_s_job_is_retried_and_its_session_listed(pg: Env, postgres_url: str) -> None:
    app = queue.build_app(postgres_url)
    async with app.open_async():
        sid, other = await pg.session("one"), await pg.session("two")
        await queue.defer(app, sid)
        await queue.defer(app, sid)  # one job waits per session: the second deferral is a no-op
        assert await queue.sessions_with_jobs(app) == {sid}
        assert await queue.without_jobs(app, [sid, other]) == [other]
        await queue.defer(app, other)
        assert await queue.sessions_with_jobs(app) == {sid, other}

        dead = await app.job_manager.register_worker()
        live = await app.job_manager.register_worker()
        first = await app.job_manager.fetch_job(queues=[queue.QUEUE], worker_id=dead)
        second = await app.job_manager.fetch_job(queues=[queue.QUEUE], worker_id=live)
        assert first is not None and second is not None
        assert {first.task_kwargs["session_id"], second.task_kwargs["session_id"]} == {sid, other}
        await app.connector.execute_query_async(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute' WHERE id = %(id)s", id=dead
        )
        assert await queue.worker_alive(app, live, 10)
        assert not await queue.worker_alive(app, dead, 10)
        assert not await queue.worker_alive(app, 10_000, 10)  # gone (pruned)

        retried = await queue.retry_stalled(app, 10)
        assert retried == [first.task_kwargs["session_id"]]  # the live worker's job stays with it
        assert await app.job_manager.get_job_status_async(first.id or 0) == Status.TODO
        assert await app.job_manager.get_job_status_async(second.id or 0) == Status.DOING
        assert await queue.retry_stalled(app, 10) == []


async def test_a_stalled_job_steps_aside_for_a_waiting_one(pg: Env, postgres_url: str) -> None:
    app = queue.build_app(postgres_url)
    async with app.open_async():
        sid = await pg.session()
        await queue.defer(app, sid)
        dead = await app.job_manager.register_worker()
        job = await app.job_manager.fetch_job(queues=[queue.QUEUE], worker_id=dead)
        assert job is not None
        await queue.defer(app, sid)  # a message meanwhile: a second job waits behind the running one's lock
        await app.job_manager.unregister_worker(dead)  # gone: its running job has no worker any more
        assert await queue.retry_stalled(app, 10) == []
        jobs = list(await app.job_manager.list_jobs_async(queue=queue.QUEUE))
        assert [j.status for j in jobs] == [Status.TODO.value]  # the waiting job runs the session next


async def test_a_stop_aborts_the_running_job_and_a_message_defers_one(pg: Env, postgres_url: str) -> None:
    dispatcher = queue.QueueDispatcher(postgres_url, pg.services.runs)
    await dispatcher.start()
    try:
        app = dispatcher.app
        sid = await pg.session()
        await dispatcher.session_ready(sid)
        worker = await app.job_manager.register_worker()
        job = await app.job_manager.fetch_job(queues=[queue.QUEUE], worker_id=worker)
        assert job is not None and job.id is not None
        await dispatcher.session_changed(sid)  # not stopped (a message): a job waits for the lock, no abort
        assert await app.job_manager.list_jobs_to_abort_async() == []
        assert len(list(await app.job_manager.list_jobs_async(queue=queue.QUEUE, status="todo"))) == 1
        await pg.services.sessions.terminate(pg.org, sid)  # (these services carry no dispatcher: called below)
        await dispatcher.session_changed(sid)
        assert list(await app.job_manager.list_jobs_to_abort_async()) == [job.id]
    finally:
        await dispatcher.stop()


async def test_waiting_jobs_run_in_the_fair_order_across_organizations(pg: Env, postgres_url: str) -> None:
    """procrastinate takes jobs by priority: ``queue.reorder`` writes the embedded runner's fair order into them, so
    a busy organization's backlog does not hold back another organization's session, and the order follows the
    sessions that start and end (a job running counts as a session running)."""
    services = pg.services
    other = await services.identity.create_org("other")
    user = await services.identity.create_service_user("bot", Role.ORG_ADMIN, other.id)
    other_principal = Principal(user.id, user.name, other.id, Role.ORG_ADMIN, "key")

    async def other_session(prompt: str) -> str:
        return (await services.sessions.create(other_principal, other.id, NewSession(prompt=prompt))).id

    app = queue.build_app(postgres_url)
    async with app.open_async():
        busy = [await pg.session(f"busy {i}") for i in range(4)]
        for sid in busy:
            await queue.defer(app, sid)
        assert await waiting_in_order(app) == busy  # one organization: first in, first out
        late = await other_session("late")
        await queue.defer(app, late)

        worker = await app.job_manager.register_worker()
        running: dict[str, Job] = {}

        async def take() -> str:
            job = await app.job_manager.fetch_job(queues=[queue.QUEUE], worker_id=worker)
            assert job is not None
            running[str(job.task_kwargs["session_id"])] = job
            return str(job.task_kwargs["session_id"])

        # first in first out would run the four busy ones before the late one
        assert [await take(), await take()] == [busy[0], late]
        # one session running in each organization: each one's next comes before the busy one's backlog
        newcomer = await other_session("newcomer")
        await queue.defer(app, newcomer)
        assert [await take(), await take(), await take(), await take()] == [busy[1], newcomer, busy[2], busy[3]]

        # the busy organization runs four, the other two: the other's new session goes first
        fresh = await pg.session("fresh")
        third = await other_session("third")
        await queue.defer(app, fresh)
        await queue.defer(app, third)
        assert await waiting_in_order(app) == [third, fresh]
        # two of the busy organization's jobs end (the second one is ending as the worker writes the order)
        await app.job_manager.finish_job(running[busy[1]], status=Status.SUCCEEDED, delete_job=False)
        await queue.reorder(app, ending=busy[2])
        assert await waiting_in_order(app) == [fresh, third]  # two running each: the older first
        assert [await take(), await take()] == [fresh, third]


async def waiting_in_order(app: procrastinate.App) -> list[str]:
    """The waiting jobs' sessions in procrastinate's fetch order (``procrastinate_fetch_job_v2``)."""
    rows = await app.connector.execute_query_all_async(
        "SELECT lock FROM procrastinate_jobs WHERE queue_name = %(queue)s AND status = 'todo' "
        "ORDER BY priority DESC, id ASC",
        queue=queue.QUEUE,
    )
    return [str(row["lock"]) for row in rows]
