"""Knowledge notes and their folders (contract §7), and the choice of notes an agent is given (contract §5).

A note says *when* it applies (its ``trigger``) and *what* the agent should know (its ``body``). The runner
asks :meth:`Knowledge.session_notes` which notes a session's system prompt gives in full (the task's stemmed
words cover most of the note's trigger or name, ranked with BM25: :mod:`codeyard.services.relevance`) and which
it lists in an index, and :meth:`Knowledge.recall` which notes the agent opens later with ``recall_knowledge``.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from codeyard.domain.ids import ENTERPRISE_SCOPE, new_id
from codeyard.errors import ConflictError, FieldError, NotFoundError
from codeyard.services.clock import Clock, system_clock
from codeyard.services.pagination import MAX_PAGE, Page, decode_cursor, encode_cursor
from codeyard.services.playbooks import check_macro
from codeyard.services.relevance import Corpus, Match, coverage, terms
from codeyard.services.sessions import repo_name
from codeyard.storage.db import Database
from codeyard.storage.tables import KnowledgeFolder, KnowledgeNote

UNPINNED = frozenset({"", "all", "*"})
"""``pinned_repo`` values that mean "every repository" (the reference leaves the sentinel open)."""

MATCH_THRESHOLD = 0.5
"""A note is given in full when the task covers *more* than this share of its trigger's (or name's) weight."""
MAX_GIVEN = 5
"""Most notes given in full at the start of a session; the others are listed in the index."""
MAX_RECALLED = 3
"""Most notes one ``recall_knowledge`` call opens when it names no note exactly."""


def trigger_matches(trigger: str, text: str, threshold: float = MATCH_THRESHOLD) -> bool:
    """Whether a note's trigger applies to a task described by ``text``: the task covers more than ``threshold`` of
    the trigger's stemmed words (see :mod:`codeyard.services.relevance`). So "When analyzing CSV data files" matches
    "Analyze the CSV data in sales.csv", and "when working on the billing service" does not match "write docs". A
    trigger made only of stop words never matches; such a note reaches a session through the index or
    ``knowledge_ids``."""
    return coverage(trigger, text) > threshold


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
class SessionNotes:
    """The knowledge a session starts with (contract §5)."""

    given: list[Note]
    """Notes given in full in the system prompt, best first."""
    index: list[Note]
    """Every other note the session may open with ``recall_knowledge``, listed by name and trigger, oldest first."""


def _rank(notes: Sequence[Note], task: Sequence[str]) -> list[tuple[int, Match]]:
    """Each note sharing a word with ``task``, with its trigger or its name, whichever the task covers more (the
    score adds both), in no particular order."""
    triggers = {m.index: m for m in Corpus([terms(n.trigger) for n in notes]).rank(task)}
    names = {m.index: m for m in Corpus([terms(n.name) for n in notes]).rank(task)}
    found: list[tuple[int, Match]] = []
    for index in sorted(triggers.keys() | names.keys()):
        parts = [m for m in (triggers.get(index), names.get(index)) if m is not None]
        found.append((index, Match(index, max(m.coverage for m in parts), sum(m.score for m in parts))))
    return found


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


def _owned_by(org_id: str | None) -> ColumnElement[bool]:
    """Notes of ``org_id``; ``None`` (the enterprise view) means every owner."""
    return KnowledgeNote.org_id == org_id if org_id is not None else KnowledgeNote.org_id.is_not(None)


def _seen_by(org_id: str) -> ColumnElement[bool]:
    """The notes a session of ``org_id`` uses: the org's own and the enterprise-wide ones."""
    return KnowledgeNote.org_id.in_((org_id, ENTERPRISE_SCOPE))


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
        org_id: str | None,
        *,
        after: str | None,
        first: int,
        search: str | None = None,
        folder_path: str | None = None,
        pinned_repo: str | None = None,
        access_type: str | None = None,
    ) -> Page[Note]:
        """Newest first. ``search`` looks (case-insensitively) in name, body and trigger; ``folder_path`` keeps the
        notes of that folder and its sub-folders; ``pinned_repo`` keeps notes pinned to exactly that value.
        ``org_id`` ``None`` is the enterprise view: every note, the enterprise-wide ones and each org's, which
        ``access_type`` (``enterprise`` or ``org``) narrows."""
        cursor = decode_cursor(after)
        first = min(first, MAX_PAGE)
        async with self.db.read() as s:
            paths = await self._folder_paths(s, org_id)
            query = select(KnowledgeNote).where(_owned_by(org_id))
            if access_type is not None:
                query = query.where(KnowledgeNote.access_type == access_type)
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

    async def get(self, org_id: str | None, note_id: str) -> Note:
        """The note of ``org_id`` (``None``: of any owner, for the enterprise view)."""
        async with self.db.read() as s:
            row = await self._load(s, org_id, note_id)
            return _note(row, await self._folder_paths(s, row.org_id))

    async def create(self, org_id: str, spec: NoteSpec) -> Note:
        """A note of the org, or an enterprise-wide one when ``org_id`` is ``ENTERPRISE_SCOPE``."""
        now = self.clock()
        access_type = "enterprise" if org_id == ENTERPRISE_SCOPE else "org"
        async with self.db.write() as s:
            await self._check(s, org_id, spec)
            row = KnowledgeNote(id=new_id("note"), org_id=org_id, access_type=access_type, created_at=now)
            self._apply(row, spec, now)
            s.add(row)
            paths = await self._folder_paths(s, org_id)
        return _note(row, paths)

    async def replace(self, org_id: str | None, note_id: str, spec: NoteSpec) -> Note:
        """PUT: every field takes the value in ``spec``, including the defaults of the omitted ones."""
        now = self.clock()
        async with self.db.write() as s:
            row = await self._load(s, org_id, note_id)
            await self._check(s, row.org_id, spec)
            self._apply(row, spec, now)
            paths = await self._folder_paths(s, row.org_id)
        return _note(row, paths)

    async def delete(self, org_id: str | None, note_id: str) -> Note:
        """Remove the note and return it as it was."""
        async with self.db.write() as s:
            row = await self._load(s, org_id, note_id)
            note = _note(row, await self._folder_paths(s, row.org_id))
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
    async def session_notes(
        self,
        org_id: str,
        text: str,
        repos: Sequence[str],
        knowledge_ids: Sequence[str] | None,
        *,
        threshold: float = MATCH_THRESHOLD,
        limit: int = MAX_GIVEN,
    ) -> SessionNotes:
        """The notes a session about ``text`` (its prompt) working on ``repos`` starts with.

        - ``knowledge_ids`` is ``None`` (the session did not say): among the org's *enabled* notes whose
          ``pinned_repo`` applies (:func:`pin_applies`), the best ``limit`` whose trigger or name the prompt and the
          repo names cover more than ``threshold`` (:mod:`codeyard.services.relevance`) are given in full, best
          first; every other one goes to the index, oldest first.
        - ``knowledge_ids`` is ``[]``: no notes at all.
        - a list: exactly those notes of the org in full, whatever their trigger, pin or switch says, since the
          caller chose them by id; no index. Ids of other orgs or of deleted notes are skipped.
        """
        if knowledge_ids is not None:
            if not knowledge_ids:
                return SessionNotes([], [])
            query = select(KnowledgeNote).where(_seen_by(org_id), KnowledgeNote.id.in_(set(knowledge_ids)))
            async with self.db.read() as s:
                rows = list(await s.scalars(query.order_by(KnowledgeNote.pk)))
                paths = await self._folder_paths(s, org_id, ENTERPRISE_SCOPE)
            return SessionNotes([_note(r, paths) for r in rows], [])
        candidates = await self._candidates(org_id, repos)
        task = terms(text) + [word for repo in repos for word in terms(repo_name(repo))]
        ranked = _rank(candidates, task)
        ranked.sort(key=lambda found: (-found[1].coverage, -found[1].score, found[0]))
        chosen = {i for i, match in ranked if match.coverage > threshold}
        given = [candidates[i] for i, _ in ranked if i in chosen][: max(0, limit)]
        ids = {note.note_id for note in given}
        return SessionNotes(given, [note for note in candidates if note.note_id not in ids])

    async def matching_notes(
        self, org_id: str, text: str, repos: Sequence[str], knowledge_ids: Sequence[str] | None
    ) -> list[Note]:
        """The notes given in full (see :meth:`session_notes`)."""
        return (await self.session_notes(org_id, text, repos, knowledge_ids)).given

    async def recall(self, org_id: str, request: str, repos: Sequence[str], *, limit: int = MAX_RECALLED) -> list[Note]:
        """What the agent's ``recall_knowledge`` opens, among the notes a session may see (enabled, pin applies):
        the note with the id ``request``, else the notes with that name (ignoring case), else the ``limit`` notes
        whose trigger and name rank best for the request's words."""
        candidates = await self._candidates(org_id, repos)
        wanted = request.strip()
        exact = [n for n in candidates if n.note_id == wanted] or [
            n for n in candidates if n.name.strip().casefold() == wanted.casefold()
        ]
        if exact:
            return exact[: max(1, limit)]
        ranked = _rank(candidates, terms(wanted))
        ranked.sort(key=lambda found: (-found[1].score, found[0]))
        return [candidates[i] for i, _ in ranked][: max(0, limit)]

    async def _candidates(self, org_id: str, repos: Sequence[str]) -> list[Note]:
        """The enabled notes of the org and the enterprise-wide ones whose pin applies to ``repos``, oldest first."""
        query = (
            select(KnowledgeNote).where(_seen_by(org_id), KnowledgeNote.is_enabled.is_(True)).order_by(KnowledgeNote.pk)
        )
        async with self.db.read() as s:
            rows = list(await s.scalars(query))
            paths = await self._folder_paths(s, org_id, ENTERPRISE_SCOPE)
        return [_note(r, paths) for r in rows if pin_applies(r.pinned_repo, repos)]

    # -- helpers ---------------------------------------------------------------------------------------
    @staticmethod
    def _folders_of(org_id: str) -> Select[KnowledgeFolder]:
        return select(KnowledgeFolder).where(KnowledgeFolder.org_id == org_id).order_by(KnowledgeFolder.pk)

    async def _folder_paths(self, s: AsyncSession, *owners: str | None) -> dict[str, str]:
        """The folder paths of ``owners`` (``None``: of every owner); folder ids are unique across owners."""
        query = select(KnowledgeFolder).order_by(KnowledgeFolder.pk)
        if None not in owners:
            query = query.where(KnowledgeFolder.org_id.in_(owners))
        return _paths(list(await s.scalars(query)))

    @staticmethod
    async def _load(s: AsyncSession, org_id: str | None, note_id: str) -> KnowledgeNote:
        row = await s.scalar(select(KnowledgeNote).where(KnowledgeNote.id == note_id, _owned_by(org_id)))
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
