"""`client.playbooks`: reusable instructions a session can start from (`playbook_id` or `!macro`)."""

from collections.abc import AsyncIterator, Iterator

from codeyard.sdk._request import Call, body, model, path, query
from codeyard.sdk.resources._base import AsyncResource, SyncResource
from codeyard.sdk.types import Page, Playbook


def _list(after: str | None, first: int | None) -> Call[Page[Playbook]]:
    return Call("GET", "/playbooks", model(Page[Playbook]), query=query(after=after, first=first), paging="cursor")


def _write(method: str, playbook_path: str, title: str, playbook_body: str, macro: str | None) -> Call[Playbook]:
    fields = body({"title": title, "body": playbook_body, "macro": macro}, drop_none=("macro",))
    return Call(method, playbook_path, model(Playbook), json=fields)


def _playbook(method: str, playbook_id: str) -> Call[Playbook]:
    return Call(method, path("playbooks", playbook_id), model(Playbook))


class Playbooks(SyncResource):
    def list(self, *, after: str | None = None, first: int | None = None) -> Page[Playbook]:
        return self._run(_list(after, first))

    def list_all(self, *, first: int | None = None) -> Iterator[Playbook]:
        return self._iterate(_list(None, first))

    def create(self, *, title: str, body: str, macro: str | None = None) -> Playbook:
        """Add a playbook; `macro` (e.g. `!deploy`) lets a prompt pull it in by name."""
        return self._run(_write("POST", "/playbooks", title, body, macro))

    def get(self, playbook_id: str) -> Playbook:
        return self._run(_playbook("GET", playbook_id))

    def update(self, playbook_id: str, *, title: str, body: str, macro: str | None = None) -> Playbook:
        """Replace the playbook (PUT)."""
        return self._run(_write("PUT", path("playbooks", playbook_id), title, body, macro))

    def delete(self, playbook_id: str) -> Playbook:
        """Delete the playbook; returns it as it was."""
        return self._run(_playbook("DELETE", playbook_id))


class AsyncPlaybooks(AsyncResource):
    async def list(self, *, after: str | None = None, first: int | None = None) -> Page[Playbook]:
        return await self._run(_list(after, first))

    def list_all(self, *, first: int | None = None) -> AsyncIterator[Playbook]:
        return self._iterate(_list(None, first))

    async def create(self, *, title: str, body: str, macro: str | None = None) -> Playbook:
        """Add a playbook; `macro` (e.g. `!deploy`) lets a prompt pull it in by name."""
        return await self._run(_write("POST", "/playbooks", title, body, macro))

    async def get(self, playbook_id: str) -> Playbook:
        return await self._run(_playbook("GET", playbook_id))

    async def update(self, playbook_id: str, *, title: str, body: str, macro: str | None = None) -> Playbook:
        """Replace the playbook (PUT)."""
        return await self._run(_write("PUT", path("playbooks", playbook_id), title, body, macro))

    async def delete(self, playbook_id: str) -> Playbook:
        """Delete the playbook; returns it as it was."""
        return await self._run(_playbook("DELETE", playbook_id))
