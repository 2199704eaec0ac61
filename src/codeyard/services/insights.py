"""Session insights (devin-api-reference §5.8): what a session did, computed from its stored history, plus on
request a short model-written analysis.

The computed part (``Metrics``) is always there: messages, steps, commands and the failed ones, files changed,
notes used, ACUs, the outcome, and what the user had to answer. ``POST …/insights/generate`` starts one
analysis per session (``started``, or ``already_exists`` while one exists or runs) through a ``Summarizer``
the composition root wires in (the agent's model); without one the analysis holds the computed part and says
why the summary is missing. An analysis left ``generating`` by a process that died is started again.
"""

import asyncio
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from codeyard.services.clock import Clock, system_clock
from codeyard.services.sessions import find_session as _find
from codeyard.storage.db import Database
from codeyard.storage.tables import AgentSessionRow, EventRow, MessageRow, SessionInsightRow

log = structlog.get_logger("codeyard.insights")

SessionSize = Literal["xs", "s", "m", "l", "xl"]
STALE_SECONDS = 600.0
"""A ``generating`` analysis older than this was left by a process that stopped: it may be started again."""
TRANSCRIPT_CHARS = 60_000
_EDIT_TYPES = {"file_written", "file_created", "file_edited", "file_overwritten"}
_TOOL_CATEGORIES = {"shell", "file", "search", "browser", "mcp", "git", "knowledge", "todo"}
_SHOWN_PATH = re.compile(r"^(?:written|created|edited|overwritten)\s+(.+)$")


class Summarizer(Protocol):
    """Writes the analysis of a transcript: ``{summary, issues, action_items, classification}`` (any may be
    missing). Raises on failure; the error's text is shown to the user."""

    async def summarize(self, transcript: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Metrics:
    num_devin_messages: int
    num_user_messages: int
    steps: int
    commands: int
    failed_commands: int
    files_changed: list[str]
    notes_used: int
    user_answers: int
    """User messages after the prompt: how often a person had to step in."""
    acus: float
    outcome: str
    """``status`` or ``status/status_detail``."""
    pull_requests: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SessionInsight:
    session: AgentSessionRow
    metrics: Metrics
    size: SessionSize
    analysis: dict[str, Any] | None
    analysis_status: str | None
    timeline: list[dict[str, str]] = field(default_factory=list)


def session_size(acus: float, messages: int) -> SessionSize:
    """Devin's size buckets, by ACUs used and by conversation length, whichever is larger."""
    by_acus = 0 if acus < 0.25 else 1 if acus < 1 else 2 if acus < 4 else 3 if acus < 16 else 4
    by_messages = 0 if messages <= 2 else 1 if messages <= 6 else 2 if messages <= 20 else 3 if messages <= 60 else 4
    sizes: tuple[SessionSize, ...] = ("xs", "s", "m", "l", "xl")
    return sizes[max(by_acus, by_messages)]


def _metrics(row: AgentSessionRow, messages: Sequence[MessageRow], events: Sequence[EventRow]) -> Metrics:
    files: dict[str, None] = {}
    commands = failed = steps = notes = 0
    for event in events:
        if event.category in _TOOL_CATEGORIES:
            steps += 1
        if event.event_type == "command_run":
            commands += 1
            exit_code = event.details.get("exit_code") if isinstance(event.details, dict) else None
            if exit_code not in (0, None) or (isinstance(event.details, dict) and event.details.get("timed_out")):
                failed += 1
        elif event.event_type in _EDIT_TYPES:
            path = event.details.get("path") if isinstance(event.details, dict) else None
            if not isinstance(path, str):
                match = _SHOWN_PATH.match(event.summary)
                path = match.group(1) if match else event.summary
            files[path] = None
        elif event.category == "knowledge":
            notes += 1
    devin = sum(1 for m in messages if m.source == "devin")
    users = len(messages) - devin
    outcome = row.status + (f"/{row.status_detail}" if row.status_detail else "")
    return Metrics(
        num_devin_messages=devin,
        num_user_messages=users,
        steps=steps,
        commands=commands,
        failed_commands=failed,
        files_changed=list(files),
        notes_used=notes,
        user_answers=max(0, users - 1),
        acus=round(row.acus_consumed, 4),
        outcome=outcome,
        pull_requests=len(row.pull_requests),
    )


def _timeline(events: Sequence[EventRow]) -> list[dict[str, str]]:
    """Status changes and git steps, oldest first, in the reference's ``{title, description}`` shape."""
    shown = [e for e in events if e.category in ("status", "git")]
    return [{"title": e.event_type.replace("_", " "), "description": e.summary} for e in shown[-50:]]


def transcript(row: AgentSessionRow, messages: Sequence[MessageRow], events: Sequence[EventRow]) -> str:
    """What the summarizer reads: the prompt, the messages and the steps, newest cut first when too long."""
    lines = [f"Session: {row.title}", f"Outcome: {row.status}/{row.status_detail or '-'}", ""]
    items = sorted(
        [(m.created_at, m.pk, f"{m.source.upper()}: {m.message}") for m in messages]
        + [(e.created_at, e.pk, f"STEP [{e.category}] {e.summary}") for e in events if e.category != "message"],
    )
    for _, _, text in items:
        lines.append(text if len(text) <= 4000 else text[:4000] + " …")
    text = "\n".join(lines)
    return text if len(text) <= TRANSCRIPT_CHARS else text[:TRANSCRIPT_CHARS] + "\n[… the rest was cut]"


def _clean_analysis(raw: dict[str, Any]) -> dict[str, Any]:
    """Keep only well-formed parts of a model's answer, in the reference's shapes."""
    out: dict[str, Any] = {}
    summary = raw.get("summary")
    if isinstance(summary, str):
        out["summary"] = summary.strip()[:4000]
    issues = []
    for i, item in enumerate(raw.get("issues") or []):
        if isinstance(item, dict) and isinstance(item.get("issue"), str):
            issues.append(
                {
                    "id": str(item.get("id") or f"issue-{i + 1}")[:64],
                    "label": str(item.get("label") or "issue")[:200],
                    "issue": item["issue"][:2000],
                    "impact": str(item.get("impact") or "medium")[:64],
                }
            )
        elif isinstance(item, str):
            issues.append({"id": f"issue-{i + 1}", "label": "issue", "issue": item[:2000], "impact": "medium"})
    out["issues"] = issues[:20]
    actions = []
    for item in raw.get("action_items") or []:
        text = item.get("action_item") if isinstance(item, dict) else item
        if isinstance(text, str):
            kind = item.get("type") if isinstance(item, dict) else None
            allowed = ("machine_setup", "repo_config", "knowledge", "prompt_improvement", "other")
            actions.append({"action_item": text[:2000], "type": kind if kind in allowed else "other"})
    out["action_items"] = actions[:20]
    classification = raw.get("classification")
    if isinstance(classification, dict) and isinstance(classification.get("category"), str):
        confidence = classification.get("confidence")
        out["classification"] = {
            "category": classification["category"][:200],
            "confidence": float(confidence) if isinstance(confidence, int | float) else 0.5,
            "programming_languages": [str(x)[:64] for x in classification.get("programming_languages") or []][:20],
            "tools_and_frameworks": [str(x)[:64] for x in classification.get("tools_and_frameworks") or []][:20],
        }
    return out


class Insights:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        self.summarizer: Summarizer | None = None
        self.missing_summarizer = "no model is configured (CODEYARD_MODEL), so no summary was written"
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, org_id: str, session_id: str) -> SessionInsight:
        def read(s: Session) -> SessionInsight:
            return _insight(s, _find(s, org_id, session_id))

        return await self.db.read_batch(read)

    async def for_sessions(self, rows: Sequence[AgentSessionRow]) -> list[SessionInsight]:
        def read(s: Session) -> list[SessionInsight]:
            return [_insight(s, row) for row in rows]

        return await self.db.read_batch(read)

    async def request(self, org_id: str, session_id: str) -> tuple[str, str]:
        """Start an analysis: ``(session_id, "started")``, or ``"already_exists"`` when one exists or runs."""
        now = self.clock()
        async with self.db.write() as s:
            row = await s.scalar(
                select(AgentSessionRow).where(AgentSessionRow.id == await self._id(org_id, session_id))
            )
            assert row is not None  # just found in the org
            existing = await s.scalar(select(SessionInsightRow).where(SessionInsightRow.session_id == row.id))
            if existing is not None:
                stale = existing.status == "generating" and now - existing.updated_at > STALE_SECONDS
                if existing.status != "failed" and not stale:
                    return row.id, "already_exists"
                existing.status, existing.analysis, existing.updated_at = "generating", None, now
            else:
                s.add(
                    SessionInsightRow(
                        session_id=row.id, org_id=row.org_id, status="generating", created_at=now, updated_at=now
                    )
                )
            sid = row.id
        try:
            task = asyncio.create_task(self.generate(sid))
        except RuntimeError:  # no running loop: the caller generates synchronously
            return sid, "started"
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return sid, "started"

    async def wait(self) -> None:
        """Let running analyses finish (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def generate(self, session_id: str) -> None:
        def read(s: Session) -> tuple[str, list[MessageRow], list[EventRow]]:
            row = _find(s, None, session_id)
            messages, events = _history(s, row.id)
            return transcript(row, messages, events), messages, events

        text, _, _ = await self.db.read_batch(read)
        status = "done"
        if self.summarizer is None:
            analysis: dict[str, Any] = {"summary": f"No summary: {self.missing_summarizer}.", "issues": []}
        else:
            try:
                analysis = _clean_analysis(await self.summarizer.summarize(text))
            except Exception as exc:  # the model's failure is the analysis's outcome, shown to the user
                log.warning("insights failed", session_id=session_id, error=type(exc).__name__)
                analysis = {"summary": f"No summary: the model could not write one ({exc}).", "issues": []}
                status = "failed"
        async with self.db.write() as s:
            stored = await s.scalar(select(SessionInsightRow).where(SessionInsightRow.session_id == session_id))
            if stored is not None:
                stored.status, stored.analysis, stored.updated_at = status, analysis, self.clock()

    async def _id(self, org_id: str, session_id: str) -> str:
        return (await self.db.read_batch(lambda s: _find(s, org_id, session_id))).id


def _history(s: Session, session_id: str) -> tuple[list[MessageRow], list[EventRow]]:
    messages = list(s.scalars(select(MessageRow).where(MessageRow.session_id == session_id).order_by(MessageRow.pk)))
    events = list(s.scalars(select(EventRow).where(EventRow.session_id == session_id).order_by(EventRow.pk)))
    return messages, events


def _insight(s: Session, row: AgentSessionRow) -> SessionInsight:
    messages, events = _history(s, row.id)
    metrics = _metrics(row, messages, events)
    stored = s.scalar(select(SessionInsightRow).where(SessionInsightRow.session_id == row.id))
    analysis = None
    if stored is not None and stored.analysis is not None:
        analysis = {**stored.analysis, "timeline": _timeline(events)}
    return SessionInsight(
        session=row,
        metrics=metrics,
        size=session_size(row.acus_consumed, len(messages)),
        analysis=analysis,
        analysis_status=stored.status if stored is not None else None,
    )
