"""Playbooks (contract §7): reusable instructions a session starts from, by ``playbook_id`` or by a ``!macro``
written in the prompt.

An organization's sessions use its own playbooks and the enterprise-wide ones (owner ``ENTERPRISE_SCOPE``); a
macro of the org's own wins over an enterprise-wide playbook with the same macro."""

import re
from dataclasses import dataclass

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from codeyard.domain.ids import ENTERPRISE_SCOPE, new_id
from codeyard.errors import ConflictError, FieldError, NotFoundError
from codeyard.services.clock import Clock, system_clock
from codeyard.services.pagination import MAX_PAGE, Page, decode_cursor, encode_cursor
from codeyard.storage.db import Database
from codeyard.storage.tables import Playbook

MACRO_FORMAT = re.compile(r"![A-Za-z0-9_-]{1,63}")
MACRO_RULE = "a macro is '!' followed by 1 to 63 letters, digits, '_' or '-', e.g. !deploy"


def check_macro(macro: str, field: str = "macro") -> None:
    """The reference's macro format (``!my_macro``, ``!my-macro``); ``FieldError`` otherwise."""
    if not MACRO_FORMAT.fullmatch(macro):
        raise FieldError(field, MACRO_RULE)


@dataclass(frozen=True)
class PlaybookSpec:
    """Everything a create or a full replace (PUT) sets."""

    title: str
    body: str
    macro: str | None = None


class Playbooks:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock

    async def list_playbooks(
        self, org_id: str | None, *, after: str | None, first: int, access_type: str | None = None
    ) -> Page[Playbook]:
        """Newest first. ``org_id`` ``None`` is the enterprise view: the enterprise-wide playbooks and each org's,
        which ``access_type`` (``enterprise`` or ``org``) narrows."""
        cursor = decode_cursor(after)
        first = min(first, MAX_PAGE)
        query = select(Playbook).where(
            Playbook.org_id == org_id if org_id is not None else Playbook.org_id.is_not(None)
        )
        if access_type is not None:
            query = query.where(Playbook.access_type == access_type)
        async with self.db.read() as s:
            total = await s.scalar(select(func.count()).select_from(query.subquery()))
            if cursor is not None:
                query = query.where(Playbook.pk < cursor)
            rows = list(await s.scalars(query.order_by(Playbook.pk.desc()).limit(first + 1)))
        has_next = len(rows) > first
        rows = rows[:first]
        return Page(rows, encode_cursor(rows[-1].pk) if has_next and rows else None, has_next, total)

    async def get(self, org_id: str | None, playbook_id: str) -> Playbook:
        """The org's playbook (``None``: of any owner, for the enterprise view)."""
        async with self.db.read() as s:
            return await self._load(s, org_id, playbook_id)

    async def usable(self, org_id: str, playbook_id: str) -> Playbook:
        """A playbook a session of ``org_id`` may follow: the org's own or an enterprise-wide one."""
        async with self.db.read() as s:
            row = await s.scalar(
                select(Playbook).where(Playbook.id == playbook_id, Playbook.org_id.in_((org_id, ENTERPRISE_SCOPE)))
            )
        if row is None:
            raise NotFoundError(f"playbook {playbook_id[:80]} not found")
        return row

    async def by_macro(self, org_id: str, macro: str) -> Playbook | None:
        """The playbook with this macro (``!deploy``; the ``!`` may be left out) that a session of ``org_id`` gets:
        the org's own, else the enterprise-wide one, else ``None``."""
        wanted = "!" + macro.strip().removeprefix("!")
        async with self.db.read() as s:
            return await s.scalar(macro_lookup(org_id, wanted))

    async def create(self, actor_id: str, org_id: str, spec: PlaybookSpec) -> Playbook:
        """``actor_id`` is the service user who creates it (``created_by`` and ``updated_by``); ``org_id``
        ``ENTERPRISE_SCOPE`` makes an enterprise-wide playbook."""
        now = self.clock()
        async with self.db.write() as s:
            await self._check_macro(s, org_id, spec.macro, None)
            row = Playbook(
                id=new_id("playbook"),
                org_id=org_id,
                title=spec.title,
                body=spec.body,
                macro=spec.macro,
                access_type="enterprise" if org_id == ENTERPRISE_SCOPE else "org",
                created_by=actor_id,
                updated_by=actor_id,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
        return row

    async def replace(self, actor_id: str, org_id: str | None, playbook_id: str, spec: PlaybookSpec) -> Playbook:
        """PUT: title, body and macro all take the values in ``spec`` (no macro given → no macro)."""
        async with self.db.write() as s:
            row = await self._load(s, org_id, playbook_id)
            await self._check_macro(s, row.org_id, spec.macro, row.id)
            row.title, row.body, row.macro = spec.title, spec.body, spec.macro
            row.updated_by = actor_id
            row.updated_at = self.clock()
        return row

    async def delete(self, org_id: str | None, playbook_id: str) -> Playbook:
        """Remove the playbook and return it as it was. Sessions that used it keep its id as history."""
        async with self.db.write() as s:
            row = await self._load(s, org_id, playbook_id)
            await s.delete(row)
        return row

    @staticmethod
    async def _load(s: AsyncSession, org_id: str | None, playbook_id: str) -> Playbook:
        query = select(Playbook).where(Playbook.id == playbook_id)
        row = await s.scalar(query.where(Playbook.org_id == org_id) if org_id is not None else query)
        if row is None:
            raise NotFoundError(f"playbook {playbook_id[:80]} not found")
        return row

    @staticmethod
    async def _check_macro(s: AsyncSession, org_id: str, macro: str | None, own_id: str | None) -> None:
        """A macro names one playbook per org, so a prompt's ``!macro`` is never ambiguous (409 otherwise)."""
        if macro is None:
            return
        check_macro(macro)
        query = select(Playbook.id).where(Playbook.org_id == org_id, Playbook.macro == macro)
        if own_id is not None:
            query = query.where(Playbook.id != own_id)
        if await s.scalar(query.limit(1)) is not None:
            owner = "the enterprise" if org_id == ENTERPRISE_SCOPE else "this organization"
            raise ConflictError(f"another playbook of {owner} already uses the macro {macro}")


def macro_lookup(org_id: str, macro: str) -> Select[Playbook]:
    """The playbook with ``macro`` a session of ``org_id`` gets: the org's own before an enterprise-wide one."""
    own_first = case((Playbook.org_id == org_id, 0), else_=1)
    return (
        select(Playbook)
        .where(Playbook.org_id.in_((org_id, ENTERPRISE_SCOPE)), Playbook.macro == macro)
        .order_by(own_first)
        .limit(1)
    )
