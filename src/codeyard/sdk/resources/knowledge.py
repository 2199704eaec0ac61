"""`client.knowledge.notes` and `client.knowledge.folders`: the organization's knowledge base."""

from collections.abc import AsyncIterator, Iterator
from functools import cached_property

from codeyard.sdk._request import Call, body, model, path, query
from codeyard.sdk.resources._base import AsyncExecutor, AsyncResource, SyncExecutor, SyncResource
from codeyard.sdk.types import KnowledgeFolder, KnowledgeFolders, KnowledgeNote, Page

_NOTES = "/knowledge/notes"
_OPTIONAL_NOTE_FIELDS = ("folder_id", "is_enabled", "pinned_repo", "macro")


def _list(
    after: str | None, first: int | None, search: str | None, folder_path: str | None, pinned_repo: str | None
) -> Call[Page[KnowledgeNote]]:
    params = query(after=after, first=first, search=search, folder_path=folder_path, pinned_repo=pinned_repo)
    return Call("GET", _NOTES, model(Page[KnowledgeNote]), query=params, paging="cursor")


def _write(
    method: str,
    note_path: str,
    name: str,
    note_body: str,
    trigger: str,
    folder_id: str | None,
    is_enabled: bool | None,
    pinned_repo: str | None,
    macro: str | None,
) -> Call[KnowledgeNote]:
    fields = {
        "name": name,
        "body": note_body,
        "trigger": trigger,
        "folder_id": folder_id,
        "is_enabled": is_enabled,
        "pinned_repo": pinned_repo,
        "macro": macro,
    }
    return Call(method, note_path, model(KnowledgeNote), json=body(fields, drop_none=_OPTIONAL_NOTE_FIELDS))


def _note(method: str, note_id: str) -> Call[KnowledgeNote]:
    return Call(method, _NOTES + path(note_id), model(KnowledgeNote))


def _folders() -> Call[KnowledgeFolders]:
    return Call("GET", "/knowledge/folders", model(KnowledgeFolders))


def _create_folder(name: str, parent_folder_id: str | None) -> Call[KnowledgeFolder]:
    fields = body({"name": name, "parent_folder_id": parent_folder_id}, drop_none=("parent_folder_id",))
    return Call("POST", "/knowledge/folders", model(KnowledgeFolder), json=fields)


class Notes(SyncResource):
    def list(
        self,
        *,
        after: str | None = None,
        first: int | None = None,
        search: str | None = None,
        folder_path: str | None = None,
        pinned_repo: str | None = None,
    ) -> Page[KnowledgeNote]:
        return self._run(_list(after, first, search, folder_path, pinned_repo))

    def list_all(
        self,
        *,
        first: int | None = None,
        search: str | None = None,
        folder_path: str | None = None,
        pinned_repo: str | None = None,
    ) -> Iterator[KnowledgeNote]:
        return self._iterate(_list(None, first, search, folder_path, pinned_repo))

    def create(
        self,
        *,
        name: str,
        body: str,
        trigger: str,
        folder_id: str | None = None,
        is_enabled: bool | None = None,
        pinned_repo: str | None = None,
        macro: str | None = None,
    ) -> KnowledgeNote:
        """Add a note; `trigger` says when it applies (matched against the task's words)."""
        return self._run(_write("POST", _NOTES, name, body, trigger, folder_id, is_enabled, pinned_repo, macro))

    def get(self, note_id: str) -> KnowledgeNote:
        return self._run(_note("GET", note_id))

    def update(
        self,
        note_id: str,
        *,
        name: str,
        body: str,
        trigger: str,
        folder_id: str | None = None,
        is_enabled: bool | None = None,
        pinned_repo: str | None = None,
        macro: str | None = None,
    ) -> KnowledgeNote:
        """Replace the note (PUT): fields left out take their defaults."""
        note_path = _NOTES + path(note_id)
        return self._run(_write("PUT", note_path, name, body, trigger, folder_id, is_enabled, pinned_repo, macro))

    def delete(self, note_id: str) -> KnowledgeNote:
        """Delete the note; returns it as it was."""
        return self._run(_note("DELETE", note_id))


class Folders(SyncResource):
    def list(self) -> KnowledgeFolders:
        return self._run(_folders())

    def create(self, *, name: str, parent_folder_id: str | None = None) -> KnowledgeFolder:
        return self._run(_create_folder(name, parent_folder_id))


class Knowledge:
    def __init__(self, client: SyncExecutor) -> None:
        self._client = client

    @cached_property
    def notes(self) -> Notes:
        return Notes(self._client)

    @cached_property
    def folders(self) -> Folders:
        return Folders(self._client)


class AsyncNotes(AsyncResource):
    async def list(
        self,
        *,
        after: str | None = None,
        first: int | None = None,
        search: str | None = None,
        folder_path: str | None = None,
        pinned_repo: str | None = None,
    ) -> Page[KnowledgeNote]:
        return await self._run(_list(after, first, search, folder_path, pinned_repo))

    def list_all(
        self,
        *,
        first: int | None = None,
        search: str | None = None,
        folder_path: str | None = None,
        pinned_repo: str | None = None,
    ) -> AsyncIterator[KnowledgeNote]:
        return self._iterate(_list(None, first, search, folder_path, pinned_repo))

    async def create(
        self,
        *,
        name: str,
        body: str,
        trigger: str,
        folder_id: str | None = None,
        is_enabled: bool | None = None,
        pinned_repo: str | None = None,
        macro: str | None = None,
    ) -> KnowledgeNote:
        """Add a note; `trigger` says when it applies (matched against the task's words)."""
        return await self._run(_write("POST", _NOTES, name, body, trigger, folder_id, is_enabled, pinned_repo, macro))

    async def get(self, note_id: str) -> KnowledgeNote:
        return await self._run(_note("GET", note_id))

    async def update(
        self,
        note_id: str,
        *,
        name: str,
        body: str,
        trigger: str,
        folder_id: str | None = None,
        is_enabled: bool | None = None,
        pinned_repo: str | None = None,
        macro: str | None = None,
    ) -> KnowledgeNote:
        """Replace the note (PUT): fields left out take their defaults."""
        note_path = _NOTES + path(note_id)
        return await self._run(_write("PUT", note_path, name, body, trigger, folder_id, is_enabled, pinned_repo, macro))

    async def delete(self, note_id: str) -> KnowledgeNote:
        """Delete the note; returns it as it was."""
        return await self._run(_note("DELETE", note_id))


class AsyncFolders(AsyncResource):
    async def list(self) -> KnowledgeFolders:
        return await self._run(_folders())

    async def create(self, *, name: str, parent_folder_id: str | None = None) -> KnowledgeFolder:
        return await self._run(_create_folder(name, parent_folder_id))


class AsyncKnowledge:
    def __init__(self, client: AsyncExecutor) -> None:
        self._client = client

    @cached_property
    def notes(self) -> AsyncNotes:
        return AsyncNotes(self._client)

    @cached_property
    def folders(self) -> AsyncFolders:
        return AsyncFolders(self._client)
