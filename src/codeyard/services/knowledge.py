"""Knowledge notes and their folders (contract §7), and the choice of notes an agent is given (contract §5).

A note says *when* it applies (its ``trigger``) and *what* the agent should know (its ``body``). The runner
asks :meth:`Knowledge.matching_notes` which notes belong in a session's system prompt; the rule is plain word
overlap, so that anyone can predict from a trigger which tasks will see the note.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from codeyard.domain.ids import new_id
from codeyard.errors import ConflictError, FieldError, NotFoundError
from codeyard.services.clock import Clock, system_clock
from codeyard.services.pagination import MAX_PAGE, Page, decode_cursor, encode_cursor
from codeyard.services.playbooks import check_macro
from codeyard.services.sessions import repo_name
from codeyard.storage.db import Database
from codeyard.storage.tables import KnowledgeFolder, KnowledgeNote

UNPINNED = frozenset({"", "all", "*"})
"""``pinned_repo`` values that mean "every repository" (the reference leaves the sentinel open)."""

_STOP_WORDS = """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing done down during each either else ever every few for from
    further had has have having he her here hers him his how however i if in into is it its itself just let me
    might more most much must my no nor not now of off on once only or other our ours out over own per please
    same shall she should so some such than that the their theirs them then there these they this those
    through to too under until up upon us very via was we were what whatever when whenever where whether which
    while who whom whose why will with within without would yet you your yours
    s t d ll m re ve don doesn isn aren wasn weren won
    anything everything something task tasks work working works
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
"""English function words, plus the framing words triggers are usually written with ("when working on…")."""

_WORD = re.compile(r"[^\W_]+")


def _fold(word: str) -> str:
    """Ignore a plural ``s`` so that "test" and "tests" count as the same word (but "class" stays "class")."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def content_words(text: str) -> set[str]:
    """The words of ``text`` that carry meaning: case-folded, split on anything not a letter or digit
    (so ``billing-service`` and ``billing_service`` are two words), stop words removed, plural ``s`` ignored."""
    return {_fold(word) for word in _WORD.findall(text.casefold()) if word not in STOP_WORDS}


def trigger_matches(trigger: str, text: str) -> bool:
    """Whether a note's trigger applies to a task described by ``text``.

    The rule: more than half of the trigger's content words (see :func:`content_words`) appear in the text as
    whole words. One or two content words must all appear; three need two; four need three; and so on. So the
    trigger "when working on the billing service" (content words: billing, service) matches "fix the invoice
    rounding bug in the billing service" but neither "write docs" nor "rebill the service". A trigger made only
    of stop words never matches; such a note reaches a session only when listed in ``knowledge_ids``.
    """
    return _more_than_half(content_words(trigger), content_words(text))


def _more_than_half(wanted: set[str], found: set[str]) -> bool:
    return bool(wanted) and len(wanted & found) * 2 > len(wanted)


def pin_applies(pinned_repo: str | None, repos: Iterable[str]) -> bool:
    """A pinned note applies only when its repository (compared as ``owner/repo``, ignoring case) is among the
    session's repositories, given as ``owner/repo`` or as git URLs; ``all``, ``*`` or nothing mean unpinned."""
    pinned = (pinned_repo or "").strip()
    if pinned.casefold() in UNPINNED:
        return True
    wanted = repo_name(pinned).casefold()
    return any(repo_name(repo).casefold() == wanted for repo in repos)


@dataclass(frozen=True)
class NoteSpec:
    """Everything a create or a full replace (PUT) sets; omitted optional fields take these defaults."""

    name: str
    body: str
    trigger: str
    folder_id: str | None = None
    is_enabled: bool = True
    pinned_repo: str | None = None
    macro: str | None = None


@dataclass(frozen=True)
class Note:
    note_id: str
    org_id: str
    name: str
    body: str
    trigger: str
    folder_id: str | None
    folder_path: str | None
    """The folder's names from the root joined by ``/`` (``Engineering/Backend``); ``None`` at the root."""
    is_enabled: bool
    pinned_repo: str | None
    macro: str | None
    access_type: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Folder:
    folder_id: str
    name: str
    parent_folder_id: str | None
    path: str
    note_count: int
    """Notes directly in this folder (not in its sub-folders)."""


@dataclass(frozen=True)
class FolderTree:
    folders: list[Folder]
    root_note_count: int
    """Notes in no folder."""


def _paths(folders: Sequence[KnowledgeFolder]) -> dict[str, str]:
    """Each folder's path. Folders only ever get a parent that already exists, so there are no cycles; the
    ``seen`` guard keeps even a hand-edited database from looping."""
    by_id = {f.id: f for f in folders}
    paths: dict[str, str] = {}
    for folder in folders:
        names: list[str] = []
        seen: set[str] = set()
        current: KnowledgeFolder | None = folder
        while current is not None and current.id not in seen:
            seen.add(current.id)
            names.append(current.name)
            current = by_id.get(current.parent_folder_id) if current.parent_folder_id else None
        paths[folder.id] = "/".join(reversed(names))
    return paths


def _note(row: KnowledgeNote, paths: dict[str, str]) -> Note:
    return Note(
        note_id=row.id,
        org_id=row.org_id,
        name=row.name,
        body=row.body,
        trigger=row.trigger,
        folder_id=row.folder_id,
        folder_path=paths.get(row.folder_id) if row.folder_id else None,
        is_enabled=row.is_enabled,
        pinned_repo=row.pinned_repo,
        macro=row.macro,
        access_type=row.access_type,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class Knowledge:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock

    # -- notes -----------------------------------------------------------------------------------------
    async def list_notes(
        self,
        org_id: str,
        *,
        after: str | None,
        first: int,
        search: str | None = None,
        folder_path: str | None = None,
        pinned_repo: str | None = None,
    ) -> Page[Note]:
        """Newest first. ``search`` looks (case-insensitively) in name, body and trigger; ``folder_path`` keeps the
        notes of that folder and its sub-folders; ``pinned_repo`` keeps notes pinned to exactly that value."""
        cursor = decode_cursor(after)
        first = min(first, MAX_PAGE)
        async with self.db.read() as s:
            paths = await self._folder_paths(s, org_id)
            query = select(KnowledgeNote).where(KnowledgeNote.org_id == org_id)
            if search:
                query = query.where(
                    KnowledgeNote.name.icontains(search, autoescape=True)
                    | KnowledgeNote.body.icontains(search, autoescape=True)
                    | KnowledgeNote.trigger.icontains(search, autoescape=True)
                )
            wanted_path = (folder_path or "").strip().strip("/")
            if wanted_path:
                ids = [fid for fid, path in paths.items() if path == wanted_path or path.startswith(wanted_path + "/")]
                query = query.where(KnowledgeNote.folder_id.in_(ids))
            if pinned_repo:
                query = query.where(func.lower(KnowledgeNote.pinned_repo) == pinned_repo.strip().lower())
            total = await s.scalar(select(func.count()).select_from(query.subquery()))
            if cursor is not None:
                query = query.where(KnowledgeNote.pk < cursor)
            rows = list(await s.scalars(query.order_by(KnowledgeNote.pk.desc()).limit(first + 1)))
        has_next = len(rows) > first
        rows = rows[:first]
        cursor_out = encode_cursor(rows[-1].pk) if has_next and rows else None
        return Page([_note(r, paths) for r in rows], cursor_out, has_next, total)

    async def get(self, org_id: str, note_id: str) -> Note:
        async with self.db.read() as s:
            row = await self._load(s, org_id, note_id)
            return _note(row, await self._folder_paths(s, org_id))

    async def create(self, org_id: str, spec: NoteSpec) -> Note:
        now = self.clock()
        async with self.db.write() as s:
            await self._check(s, org_id, spec)
            row = KnowledgeNote(id=new_id("note"), org_id=org_id, access_type="org", created_at=now)
            self._apply(row, spec, now)
            s.add(row)
            paths = await self._folder_paths(s, org_id)
        return _note(row, paths)

    async def replace(self, org_id: str, note_id: str, spec: NoteSpec) -> Note:
        """PUT: every field takes the value in ``spec``, including the defaults of the omitted ones."""
        now = self.clock()
        async with self.db.write() as s:
            row = await self._load(s, org_id, note_id)
            await self._check(s, org_id, spec)
            self._apply(row, spec, now)
            paths = await self._folder_paths(s, org_id)
        return _note(row, paths)

    async def delete(self, org_id: str, note_id: str) -> Note:
        """Remove the note and return it as it was."""
        async with self.db.write() as s:
            row = await self._load(s, org_id, note_id)
            note = _note(row, await self._folder_paths(s, org_id))
            await s.delete(row)
        return note

    # -- folders ---------------------------------------------------------------------------------------
    async def folders(self, org_id: str) -> FolderTree:
        async with self.db.read() as s:
            folders = list(await s.scalars(self._folders_of(org_id)))
            rows = await s.execute(
                select(KnowledgeNote.folder_id, func.count())
                .where(KnowledgeNote.org_id == org_id)
                .group_by(KnowledgeNote.folder_id)
            )
            counts: dict[str | None, int] = dict(rows.all())
        paths = _paths(folders)
        items = [Folder(f.id, f.name, f.parent_folder_id, paths[f.id], counts.get(f.id, 0)) for f in folders]
        items.sort(key=lambda f: f.path.casefold())
        return FolderTree(items, counts.get(None, 0))

    async def create_folder(self, org_id: str, name: str, parent_folder_id: str | None = None) -> Folder:
        """A new folder under ``parent_folder_id`` (or at the root). The parent must already exist in the org,
        so a folder can never become its own ancestor; sibling names are unique (ignoring case) so paths are."""
        if not name.strip() or "/" in name:
            raise FieldError("name", "a folder name must not be empty or contain '/' (paths are joined with '/')")
        async with self.db.write() as s:
            if parent_folder_id is not None:
                parent = await s.scalar(
                    select(KnowledgeFolder.pk).where(
                        KnowledgeFolder.id == parent_folder_id, KnowledgeFolder.org_id == org_id
                    )
                )
                if parent is None:
                    raise FieldError("parent_folder_id", f"folder {parent_folder_id[:80]} not found")
            same_parent = (
                KnowledgeFolder.parent_folder_id.is_(None)
                if parent_folder_id is None
                else KnowledgeFolder.parent_folder_id == parent_folder_id
            )
            siblings = await s.scalars(
                select(KnowledgeFolder.name).where(KnowledgeFolder.org_id == org_id, same_parent)
            )
            if name.casefold() in {sibling.casefold() for sibling in siblings}:
                raise ConflictError(f"a folder named {name[:80]!r} already exists there")
            row = KnowledgeFolder(
                id=new_id("folder"),
                org_id=org_id,
                name=name,
                parent_folder_id=parent_folder_id,
                created_at=self.clock(),
            )
            s.add(row)
            await s.flush()
            paths = _paths(list(await s.scalars(self._folders_of(org_id))))
        return Folder(row.id, row.name, row.parent_folder_id, paths[row.id], 0)

    # -- the agent's context ---------------------------------------------------------------------------
    async def matching_notes(
        self, org_id: str, text: str, repos: Sequence[str], knowledge_ids: Sequence[str] | None
    ) -> list[Note]:
        """The notes a session about ``text`` (its prompt) working on ``repos`` should be given, oldest first.

        - ``knowledge_ids`` is ``None`` (the session did not say): every *enabled* note of the org whose trigger
          matches the text (:func:`trigger_matches`) and whose ``pinned_repo`` applies (:func:`pin_applies`).
        - ``knowledge_ids`` is ``[]``: no notes at all.
        - a list: exactly those notes of the org, whatever their trigger, pin or switch says, since the caller
          chose them by id. Ids of other orgs or of deleted notes are skipped.
        """
        if knowledge_ids is not None and not knowledge_ids:
            return []
        query = select(KnowledgeNote).where(KnowledgeNote.org_id == org_id).order_by(KnowledgeNote.pk)
        if knowledge_ids is not None:
            query = query.where(KnowledgeNote.id.in_(set(knowledge_ids)))
        else:
            query = query.where(KnowledgeNote.is_enabled.is_(True))
        async with self.db.read() as s:
            rows = list(await s.scalars(query))
            paths = await self._folder_paths(s, org_id)
        if knowledge_ids is None:
            task_words = content_words(text)
            rows = [
                r
                for r in rows
                if pin_applies(r.pinned_repo, repos) and _more_than_half(content_words(r.trigger), task_words)
            ]
        return [_note(r, paths) for r in rows]

    # -- helpers ---------------------------------------------------------------------------------------
    @staticmethod
    def _folders_of(org_id: str) -> Select[KnowledgeFolder]:
        return select(KnowledgeFolder).where(KnowledgeFolder.org_id == org_id).order_by(KnowledgeFolder.pk)

    async def _folder_paths(self, s: AsyncSession, org_id: str) -> dict[str, str]:
        return _paths(list(await s.scalars(self._folders_of(org_id))))

    @staticmethod
    async def _load(s: AsyncSession, org_id: str, note_id: str) -> KnowledgeNote:
        row = await s.scalar(select(KnowledgeNote).where(KnowledgeNote.id == note_id, KnowledgeNote.org_id == org_id))
        if row is None:
            raise NotFoundError(f"knowledge note {note_id[:80]} not found")
        return row

    @staticmethod
    async def _check(s: AsyncSession, org_id: str, spec: NoteSpec) -> None:
        if spec.macro is not None:
            check_macro(spec.macro)
        if spec.folder_id is not None:
            found = await s.scalar(
                select(KnowledgeFolder.pk).where(KnowledgeFolder.id == spec.folder_id, KnowledgeFolder.org_id == org_id)
            )
            if found is None:
                raise FieldError("folder_id", f"folder {spec.folder_id[:80]} not found in this organization")

    @staticmethod
    def _apply(row: KnowledgeNote, spec: NoteSpec, now: float) -> None:
        row.name = spec.name
        row.body = spec.body
        row.trigger = spec.trigger
        row.folder_id = spec.folder_id
        row.is_enabled = spec.is_enabled
        row.pinned_repo = spec.pinned_repo or None
        row.macro = spec.macro
        row.updated_at = now
