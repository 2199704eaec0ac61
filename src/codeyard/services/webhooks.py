"""Webhooks (contract §10): the org's targets, and the durable delivery state the deliverer works through.

A message in the outbox (``services.outbox``) is fanned out to every matching webhook of its org as a
``pending`` delivery. A deliverer claims due deliveries with a lease (so two processes never send the same one
at once, and a crashed deliverer's claims are taken over), sends them, and records the answer: 2xx is
``succeeded``; anything else is tried again with exponential backoff until ``retry_window`` seconds have passed
since the message, then ``failed``. Delivery is therefore at least once.
"""

import base64
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from codeyard.domain.ids import new_id
from codeyard.errors import ConflictError, FieldError, NotFoundError
from codeyard.services import outbox, webhook_targets
from codeyard.services.clock import Clock, system_clock
from codeyard.services.crypto import Vault
from codeyard.services.pagination import MAX_PAGE, Page, decode_cursor, encode_cursor
from codeyard.storage.db import Database
from codeyard.storage.tables import Webhook, WebhookDelivery, WebhookMessage

MAX_WEBHOOKS_PER_ORG = 50
FIRST_RETRY = 5.0
"""Seconds before the second attempt; each further wait doubles, up to ``MAX_RETRY_WAIT``."""
MAX_RETRY_WAIT = 3600.0
ATTEMPTS_KEPT = 10
"""A delivery keeps this many of its latest attempts (time, status code or error, duration); older ones are dropped."""
ATTEMPT_ERROR_CHARS = 500


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def retry_wait(attempts: int) -> float:
    """Seconds to wait after ``attempts`` failed attempts: 5 s, 10 s, 20 s … one hour, with 10 % jitter."""
    wait = min(FIRST_RETRY * 2.0 ** max(attempts - 1, 0), MAX_RETRY_WAIT)
    return float(wait * random.uniform(0.9, 1.1))


@dataclass(frozen=True)
class WebhookSpec:
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    fields: frozenset[str] = frozenset()
    """The fields the request gave (a PATCH changes only those)."""


@dataclass(frozen=True)
class Created:
    webhook: Webhook
    secret: str


@dataclass(frozen=True)
class Job:
    """A claimed delivery, with what is needed to send it."""

    delivery_id: str
    webhook_id: str
    message_id: str
    url: str
    secret: str
    body: dict[str, Any]
    attempts: int
    """Including this one."""
    first_at: float
    """When the message was written (the retry window counts from here)."""


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration: float | None = None
    """Seconds the attempt took (the target's address checked, connected, answered)."""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _check_types(event_types: list[str] | None) -> list[str] | None:
    if event_types is None:
        return None
    unknown = sorted(set(event_types) - set(outbox.TYPES))
    if unknown:
        raise FieldError("event_types", f"unknown event types {unknown}; known: {', '.join(outbox.TYPES)}")
    if not event_types:
        raise FieldError("event_types", "give at least one event type, or leave the field out for all of them")
    return list(dict.fromkeys(event_types))


def _logged(log: list[Any] | None, job: Job, outcome: Outcome, now: float) -> list[Any]:
    """``log`` with this attempt appended, keeping the last ``ATTEMPTS_KEPT``."""
    entry = {
        "attempt": job.attempts,
        "at": now,
        "status_code": outcome.status_code,
        "error": None if outcome.error is None else outcome.error[:ATTEMPT_ERROR_CHARS],
        "duration_ms": None if outcome.duration is None else round(outcome.duration * 1000),
    }
    kept = [item for item in (log or []) if isinstance(item, dict)]
    return [*kept, entry][-ATTEMPTS_KEPT:]


class Webhooks:
    def __init__(
        self,
        db: Database,
        vault: Vault,
        clock: Clock = system_clock,
        *,
        allow_private: bool = False,
        retry_window: float = 86400.0,
    ) -> None:
        self.db = db
        self.vault = vault
        self.clock = clock
        self.allow_private = allow_private
        self.retry_window = retry_window

    # -- the org's webhooks ------------------------------------------------------------------------------
    async def create(self, created_by: str | None, org_id: str, spec: WebhookSpec) -> Created:
        if spec.url is None:
            raise FieldError("url", "the url is required")
        await webhook_targets.check(spec.url, allow_private=self.allow_private)
        event_types = _check_types(spec.event_types)
        secret = new_secret()
        now = self.clock()
        async with self.db.write() as s:
            count = await s.scalar(select(func.count()).select_from(Webhook).where(Webhook.org_id == org_id))
            if (count or 0) >= MAX_WEBHOOKS_PER_ORG:
                raise ConflictError(f"an organization has at most {MAX_WEBHOOKS_PER_ORG} webhooks; delete one first")
            row = Webhook(
                id=new_id("webhook"),
                org_id=org_id,
                url=spec.url,
                event_types=event_types,
                description=spec.description,
                secret=self.vault.encrypt(secret.encode()),
                created_by=created_by,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
        return Created(row, secret)

    async def _load(self, s: AsyncSession, org_id: str, webhook_id: str) -> Webhook:
        row = await s.scalar(select(Webhook).where(Webhook.id == webhook_id, Webhook.org_id == org_id))
        if row is None:
            raise NotFoundError(f"webhook {webhook_id[:80]} not found")
        return row

    async def get(self, org_id: str, webhook_id: str) -> Webhook:
        async with self.db.read() as s:
            return await self._load(s, org_id, webhook_id)

    async def list_webhooks(self, org_id: str, *, after: str | None, first: int) -> Page[Webhook]:
        cursor = decode_cursor(after)
        async with self.db.read() as s:
            query = select(Webhook).where(Webhook.org_id == org_id)
            total = await s.scalar(select(func.count()).select_from(query.subquery()))
            if cursor is not None:
                query = query.where(Webhook.pk > cursor)
            rows = list(await s.scalars(query.order_by(Webhook.pk).limit(min(first, MAX_PAGE) + 1)))
        has_next = len(rows) > first
        rows = rows[:first]
        return Page(rows, encode_cursor(rows[-1].pk) if has_next and rows else None, has_next, total)

    async def update(self, org_id: str, webhook_id: str, spec: WebhookSpec) -> Webhook:
        if "url" in spec.fields:
            if spec.url is None:
                raise FieldError("url", "the url cannot be removed")
            await webhook_targets.check(spec.url, allow_private=self.allow_private)
        event_types = _check_types(spec.event_types) if "event_types" in spec.fields else None
        async with self.db.write() as s:
            row = await self._load(s, org_id, webhook_id)
            if "url" in spec.fields and spec.url is not None:
                row.url = spec.url
            if "event_types" in spec.fields:
                row.event_types = event_types
            if "description" in spec.fields:
                row.description = spec.description
            row.updated_at = self.clock()
            return row

    async def delete(self, org_id: str, webhook_id: str) -> Webhook:
        """Removes the webhook and its delivery log; pending deliveries are dropped."""
        async with self.db.write() as s:
            row = await self._load(s, org_id, webhook_id)
            await s.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == row.id))
            await s.delete(row)
            return row

    async def deliveries(self, org_id: str, webhook_id: str, *, after: str | None, first: int) -> Page[WebhookDelivery]:
        """Newest first."""
        cursor = decode_cursor(after)
        async with self.db.read() as s:
            await self._load(s, org_id, webhook_id)
            query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
            total = await s.scalar(select(func.count()).select_from(query.subquery()))
            if cursor is not None:
                query = query.where(WebhookDelivery.pk < cursor)
            rows = list(await s.scalars(query.order_by(WebhookDelivery.pk.desc()).limit(min(first, MAX_PAGE) + 1)))
        has_next = len(rows) > first
        rows = rows[:first]
        return Page(rows, encode_cursor(rows[-1].pk) if has_next and rows else None, has_next, total)

    # -- the deliverer's side ------------------------------------------------------------------------------
    async def work(self) -> tuple[bool, float | None]:
        """One cheap read: are there new outbox messages, and when is the next delivery not claimed by a live
        deliverer due (``None``: none; a time at or before now: one is due now). The earliest such delivery, from the
        ``(status, next_attempt_at)`` index, however many are pending. A claimed delivery is counted once its lease
        ran out; one still leased is not (its deliverer is sending it)."""
        now = self.clock()
        d = WebhookDelivery
        async with self.db.read() as s:
            new = await s.scalar(select(WebhookMessage.pk).where(WebhookMessage.dispatched_at.is_(None)).limit(1))
            next_due = await s.scalar(
                select(d.next_attempt_at)
                .where(d.status == "pending", d.lease_until.is_(None) | (d.lease_until < now))
                .order_by(d.next_attempt_at)
                .limit(1)
            )
        return new is not None, None if next_due is None else float(next_due)

    async def take(self, limit: int, lease: float, *, fan_out: int = 0) -> list[Job]:
        """In one write transaction: fan up to ``fan_out`` new outbox messages out to their webhooks, then claim up
        to ``limit`` due deliveries for ``lease`` seconds, counting the attempt."""
        now = self.clock()
        async with self.db.write() as s:
            if fan_out:
                await self._fan_out(s, fan_out, now)
                await s.flush()
            return await self._claim(s, limit, lease, now) if limit > 0 else []

    async def _fan_out(self, s: AsyncSession, limit: int, now: float) -> None:
        """One pending delivery per matching webhook for each new message (a webhook made later gets none)."""
        query = select(WebhookMessage).where(WebhookMessage.dispatched_at.is_(None)).order_by(WebhookMessage.pk)
        if not self.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        messages = list(await s.scalars(query.limit(limit)))
        if not messages:
            return
        orgs = {m.org_id for m in messages}
        hooks = list(await s.scalars(select(Webhook).where(Webhook.org_id.in_(orgs)).order_by(Webhook.pk)))
        for message in messages:
            message.dispatched_at = now
            targets = [
                hook
                for hook in hooks
                if hook.org_id == message.org_id
                and hook.created_at <= message.created_at
                and (hook.event_types is None or message.event_type in hook.event_types)
            ]
            if not targets:
                await s.delete(message)  # nobody wants it: the outbox does not grow for orgs without webhooks
            for hook in targets:
                s.add(
                    WebhookDelivery(
                        id=new_id("delivery"),
                        webhook_id=hook.id,
                        message_id=message.id,
                        event_type=message.event_type,
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )

    async def _claim(self, s: AsyncSession, limit: int, lease: float, now: float) -> list[Job]:
        d = WebhookDelivery
        query = (
            select(d, Webhook, WebhookMessage)
            .join(Webhook, Webhook.id == d.webhook_id)
            .join(WebhookMessage, WebhookMessage.id == d.message_id)
            .where(d.status == "pending", d.next_attempt_at <= now, d.lease_until.is_(None) | (d.lease_until < now))
            .order_by(d.next_attempt_at, d.pk)
            .limit(limit)
        )
        if not self.db.is_sqlite:
            query = query.with_for_update(of=d, skip_locked=True)
        jobs = []
        for delivery, hook, message in await s.execute(query):
            delivery.attempts += 1
            delivery.lease_until = now + lease
            jobs.append(
                Job(
                    delivery_id=delivery.id,
                    webhook_id=hook.id,
                    message_id=message.id,
                    url=hook.url,
                    secret=self.vault.decrypt(hook.secret).decode(),
                    body=dict(message.payload),
                    attempts=delivery.attempts,
                    first_at=message.created_at,
                )
            )
        return jobs

    async def prune(self, older_than: float) -> int:
        """Forget finished deliveries, and messages with no delivery left, written more than ``older_than`` seconds
        ago; returns the deliveries removed."""
        cutoff = self.clock() - older_than
        d = WebhookDelivery
        async with self.db.write() as s:
            result = await s.execute(delete(d).where(d.status.in_(["succeeded", "failed"]), d.created_at < cutoff))
            await s.execute(
                delete(WebhookMessage).where(
                    WebhookMessage.dispatched_at.is_not(None),
                    WebhookMessage.created_at < cutoff,
                    ~select(d.pk).where(d.message_id == WebhookMessage.id).exists(),
                )
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def record(self, job: Job, outcome: Outcome) -> str:
        """Store an attempt's answer; returns the delivery's new status."""
        now = self.clock()
        if outcome.ok:
            values: dict[str, Any] = {"status": "succeeded", "delivered_at": now, "last_error": None}
        elif now - job.first_at >= self.retry_window:
            values = {"status": "failed", "last_error": outcome.error}
        else:
            values = {
                "status": "pending",
                "next_attempt_at": now + retry_wait(job.attempts),
                "last_error": outcome.error,
            }
        values |= {"last_status_code": outcome.status_code, "last_attempt_at": now, "lease_until": None}
        d = WebhookDelivery
        async with self.db.write() as s:
            # The lease holder alone records a pending delivery; the row lock (PostgreSQL) covers a lease that ran out
            # mid-attempt, so two records never interleave their read and write of the log.
            query = select(d.attempt_log).where(d.id == job.delivery_id, d.status == "pending")
            log = await s.scalar(query if self.db.is_sqlite else query.with_for_update())
            values["attempt_log"] = _logged(log, job, outcome, now)
            await s.execute(update(d).where(d.id == job.delivery_id, d.status == "pending").values(**values))
        return str(values["status"])

    async def release(self, jobs: Sequence[Job]) -> None:
        """At shutdown: give unfinished claims back without counting their attempt."""
        if not jobs:
            return
        async with self.db.write() as s:
            await s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([j.delivery_id for j in jobs]), WebhookDelivery.status == "pending")
                .values(lease_until=None, attempts=WebhookDelivery.attempts - 1)
            )
