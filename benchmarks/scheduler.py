"""Scheduler benchmark: with 10,000 enabled schedules, how long does one tick take, and how late do they fire?

    .venv/bin/python benchmarks/scheduler.py [--schedules 10000] [--minutes 2] [--interval 5]

Schedule ``i`` runs at minute ``i % 60`` of every hour in one of four zones (one with a half-hour offset),
spread so that about 167 are due each minute.
The benchmark runs on a fresh SQLite data dir in a temp directory, with no session runner:

1. lateness: the real ticker loop (``Ticker.start``) runs on the real clock for ``--minutes`` minutes;
   lateness is each spawned session's ``created_at`` minus its due time;
2. idle tick: ``tick(now)`` when nothing is due (the steady state between due times);
3. busy tick: ``tick(now)`` at a minute boundary, claiming ~167 schedules and starting their sessions;
   the claim alone (due query, plan, compare-and-set and run rows, no sessions) is timed separately.

Prints a Markdown block for ``docs/benchmarks.md``.
"""

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from codeyard.cli.server import prepare
from codeyard.config import Settings
from codeyard.domain.cron import next_fire, parse_zone
from codeyard.scheduler.ticker import Ticker, plan
from codeyard.services.container import Services
from codeyard.services.principal import Role
from codeyard.storage.tables import AgentSessionRow, Schedule, ScheduleRun

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def seed(services: Services, org_id: str, creator: str, count: int) -> None:
    """Insert the schedules in one transaction, with ``next_run_at`` computed as the service does."""
    now = time.time()
    moment = datetime.fromtimestamp(now, UTC)
    async with services.db.write() as s:
        for i in range(count):
            zone = ZONES[(i // 60) % len(ZONES)]
            frequency = f"{i % 60} * * * *"
            s.add(
                Schedule(
                    id=f"sched-bench{i:08d}",
                    org_id=org_id,
                    name=f"bench {i}",
                    prompt=f"benchmark schedule {i}",
                    agent="devin",
                    schedule_type="recurring",
                    frequency=frequency,
                    timezone=zone,
                    enabled=True,
                    notify_on="failure",
                    tags=["bench"],
                    options={},
                    created_by=creator,
                    last_edited_by=creator,
                    next_run_at=next_fire(frequency, parse_zone(zone), moment).timestamp(),
                    due_count=0,
                    skipped_count=0,
                    consecutive_failures=0,
                    created_at=now,
                    updated_at=now,
                )
            )


async def lateness(services: Services, since: float) -> list[float]:
    async with services.db.read() as s:
        rows = await s.execute(
            select(AgentSessionRow.created_at, ScheduleRun.due_at)
            .join(ScheduleRun, ScheduleRun.session_id == AgentSessionRow.id)
            .where(ScheduleRun.due_at >= since)
        )
        return [created - due for created, due in rows]


async def timed(step: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await step()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def run(count: int, minutes: float, interval: float) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="codeyard-bench-")) / "data"
    settings = Settings(data_dir=data_dir, runner_enabled=False, scheduler_enabled=False, secret_key="bench")
    db, services = await prepare(settings)
    org_id = json.loads((data_dir / "bootstrap.json").read_text())["org_id"]
    creator = next(u.id for u in await services.identity.list_service_users(org_id) if u.role == Role.ORG_ADMIN)
    await seed(services, org_id, creator, count)
    schedules = services.schedule_runs

    started = time.time()
    ticker = Ticker(schedules, services.clock, interval=interval)
    await ticker.start()
    await asyncio.sleep(minutes * 60)
    await ticker.stop()
    late = await lateness(services, started)

    earliest = await schedules.earliest_due()
    assert earliest is not None
    idle = await timed(lambda: ticker.tick(earliest - 1), 50)
    due_query = await timed(lambda: schedules.due(earliest - 1, 500), 50)

    busy: list[float] = []
    claims: list[float] = []
    fired: list[int] = []
    boundary = earliest
    for _ in range(5):
        start = time.perf_counter()
        report = await ticker.tick(boundary + 0.5)
        busy.append((time.perf_counter() - start) * 1000)
        fired.append(len(report.sessions))
        boundary += 60
        at = boundary + 0.5
        start = time.perf_counter()  # the claim alone, for the next minute (its sessions are started after)
        due = await schedules.due(at, 500)
        claimed = await schedules.claim([plan(d, datetime.fromtimestamp(at, UTC)) for d in due], at)
        claims.append((time.perf_counter() - start) * 1000)
        await schedules.spawn(claimed.tickets)
        boundary += 60
    await db.dispose()

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    print(
        f"Machine: {cpu}, {os.cpu_count()} cores; Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}"
    )
    print(f"Command: .venv/bin/python benchmarks/scheduler.py --schedules {count} --minutes {minutes:g}", end="")
    print(f" --interval {interval:g}")
    print()
    print("| measure | median | p99 |")
    print("| --- | --- | --- |")
    print(f"| idle tick ({count} enabled, none due) | {statistics.median(idle):.2f} ms ", end="")
    print(f"| {percentile(idle, 0.99):.2f} ms |")
    print(f"| due query alone | {statistics.median(due_query):.2f} ms | {percentile(due_query, 0.99):.2f} ms |")
    print(
        f"| claim of ~{statistics.median(fired):.0f} due schedules (no sessions) | {statistics.median(claims):.1f} ms "
        f"| {max(claims):.1f} ms (max) |"
    )
    print(
        f"| busy tick: claim + start ~{statistics.median(fired):.0f} sessions | {statistics.median(busy):.0f} ms "
        f"| {max(busy):.0f} ms (max) |"
    )
    if late:
        print(
            f"| fire lateness, real clock, {len(late)} sessions over {minutes:g} min | "
            f"{statistics.median(late) * 1000:.0f} ms (p50) | {percentile(late, 0.99) * 1000:.0f} ms |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=2.0, help="real minutes of ticking for the lateness run")
    parser.add_argument("--interval", type=float, default=5.0, help="the ticker's longest sleep (scheduler_interval)")
    args = parser.parse_args()
    asyncio.run(run(args.schedules, args.minutes, args.interval))


if __name__ == "__main__":
    main()
