"""`client.sessions`: create, read and steer sessions, their messages, events, attachments and tags."""

import builtins
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Unpack

from codeyard.sdk import _streaming
from codeyard.sdk._request import (
    NOT_GIVEN,
    Call,
    NotGiven,
    body,
    content,
    model,
    model_list,
    path,
    query,
    tag_list,
)
from codeyard.sdk._streaming import Until, condition, stream_call
from codeyard.sdk.resources._base import AsyncResource, SyncResource
from codeyard.sdk.types import (
    EventFilters,
    Page,
    SessionAttachment,
    SessionChanges,
    SessionEvent,
    SessionFilters,
    SessionMessage,
    SessionResponse,
    SessionSecret,
)

_OPTIONAL_CREATE_FIELDS = (
    "title",
    "tags",
    "repos",
    "attachment_urls",
    "playbook_id",
    "session_secrets",
    "max_acu_limit",
    "structured_output_schema",
)


def _create(fields: Mapping[str, object], extra: Mapping[str, Any]) -> Call[SessionResponse]:
    # None means "not set" for most fields; knowledge_ids/secret_ids use NOT_GIVEN because null there means "all".
    return Call(
        "POST", "/sessions", model(SessionResponse), json={**body(fields, drop_none=_OPTIONAL_CREATE_FIELDS), **extra}
    )


def _get(devin_id: str) -> Call[SessionResponse]:
    return Call("GET", path("sessions", devin_id), model(SessionResponse))


def _list(after: str | None, first: int | None, filters: SessionFilters) -> Call[Page[SessionResponse]]:
    return Call(
        "GET",
        "/sessions",
        model(Page[SessionResponse]),
        query=query(after=after, first=first, **filters),
        paging="cursor",
    )


def _messages(devin_id: str, after: str | None, first: int | None) -> Call[Page[SessionMessage]]:
    return Call(
        "GET",
        path("sessions", devin_id, "messages"),
        model(Page[SessionMessage]),
        query=query(after=after, first=first),
        paging="cursor",
    )


def _send_message(devin_id: str, message: str, attachment_urls: Sequence[str] | None) -> Call[SessionResponse]:
    fields = body({"message": message, "attachment_urls": attachment_urls}, drop_none=("attachment_urls",))
    return Call("POST", path("sessions", devin_id, "messages"), model(SessionResponse), json=fields)


def _events(devin_id: str, after: str | None, first: int | None, filters: EventFilters) -> Call[Page[SessionEvent]]:
    return Call(
        "GET",
        path("sessions", devin_id, "events"),
        model(Page[SessionEvent]),
        query=query(after=after, first=first, **filters),
        paging="cursor",
    )


def _attachments(devin_id: str) -> Call[list[SessionAttachment]]:
    return Call("GET", path("sessions", devin_id, "attachments"), model_list(SessionAttachment))


def _archive(devin_id: str) -> Call[SessionResponse]:
    return Call("POST", path("sessions", devin_id, "archive"), model(SessionResponse), idempotent=True)


def _terminate(devin_id: str, archive: bool) -> Call[SessionResponse]:
    return Call("DELETE", path("sessions", devin_id), model(SessionResponse), query=query(archive=archive))


def _tags(method: str, devin_id: str, values: Sequence[str] | None = None) -> Call[list[str]]:
    # POST appends with de-duplication, so repeating it is as harmless as repeating the PUT.
    json: object = NOT_GIVEN if values is None else {"tags": list(values)}
    return Call(method, path("sessions", devin_id, "tags"), tag_list, json=json, idempotent=True)


def _changes(devin_id: str) -> Call[SessionChanges]:
    return Call("GET", path("sessions", devin_id, "changes"), model(SessionChanges))


def _download(devin_id: str, index: int, kind: str) -> Call[bytes]:
    return Call("GET", path("sessions", devin_id, "changes", f"{int(index)}.{kind}"), content)


class Sessions(SyncResource):
    def create(
        self,
        *,
        prompt: str,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        repos: Sequence[str] | None = None,
        attachment_urls: Sequence[str] | None = None,
        playbook_id: str | None = None,
        knowledge_ids: Sequence[str] | NotGiven | None = NOT_GIVEN,
        secret_ids: Sequence[str] | NotGiven | None = NOT_GIVEN,
        session_secrets: Sequence[SessionSecret] | None = None,
        max_acu_limit: float | None = None,
        structured_output_schema: Mapping[str, Any] | None = None,
        wait: bool = False,
        wait_timeout: float | None = None,
        **extra: Any,
    ) -> SessionResponse:
        """Start a session. `knowledge_ids`/`secret_ids`: omitted or None = all, `[]` = none.

        `wait=True` returns only once the agent needs nothing more (see `wait`), with the session as it is then.
        `extra` passes other `SessionCreateRequest` fields through (`platform`, `devin_mode`, ...).
        """
        fields = {
            "prompt": prompt,
            "title": title,
            "tags": tags,
            "repos": repos,
            "attachment_urls": attachment_urls,
            "playbook_id": playbook_id,
            "knowledge_ids": knowledge_ids,
            "secret_ids": secret_ids,
            "session_secrets": session_secrets,
            "max_acu_limit": max_acu_limit,
            "structured_output_schema": structured_output_schema,
        }
        session = self._run(_create(fields, extra))
        return self.wait(session.session_id, timeout=wait_timeout) if wait else session

    def get(self, devin_id: str) -> SessionResponse:
        return self._run(_get(devin_id))

    def list(
        self, *, after: str | None = None, first: int | None = None, **filters: Unpack[SessionFilters]
    ) -> Page[SessionResponse]:
        """One page of sessions, newest first."""
        return self._run(_list(after, first, filters))

    def list_all(self, *, first: int | None = None, **filters: Unpack[SessionFilters]) -> Iterator[SessionResponse]:
        """Every matching session, newest first, fetched page by page as the iterator advances."""
        return self._iterate(_list(None, first, filters))

    def messages(self, devin_id: str, *, after: str | None = None, first: int | None = None) -> Page[SessionMessage]:
        """One page of messages, oldest first."""
        return self._run(_messages(devin_id, after, first))

    def iter_messages(
        self, devin_id: str, *, after: str | None = None, first: int | None = None
    ) -> Iterator[SessionMessage]:
        """Every message after the cursor `after` (all when None), oldest first."""
        return self._iterate(_messages(devin_id, after, first))

    def send_message(
        self, devin_id: str, message: str, *, attachment_urls: Sequence[str] | None = None
    ) -> SessionResponse:
        """Send a message; a suspended or finished session resumes."""
        return self._run(_send_message(devin_id, message, attachment_urls))

    def events(
        self, devin_id: str, *, after: str | None = None, first: int | None = None, **filters: Unpack[EventFilters]
    ) -> Page[SessionEvent]:
        return self._run(_events(devin_id, after, first, filters))

    def iter_events(
        self, devin_id: str, *, first: int | None = None, **filters: Unpack[EventFilters]
    ) -> Iterator[SessionEvent]:
        return self._iterate(_events(devin_id, None, first, filters))

    def stream(
        self, devin_id: str, *, last_event_id: str | None = None, max_reconnects: int = 5, timeout: float | None = None
    ) -> Iterator[SessionEvent]:
        """Every event of the session as it happens (each command, its output, file edits, messages, status
        changes), from the first one or after `last_event_id`; ends after a final status (`exit`, `error`,
        `suspended`). A dropped connection is resumed with `Last-Event-ID`: no event is lost or repeated."""
        return _streaming.follow(
            self._client,
            stream_call(devin_id),
            last_event_id=last_event_id,
            max_reconnects=max_reconnects,
            timeout=timeout,
        )

    def wait(self, devin_id: str, *, until: Until = None, timeout: float | None = None) -> SessionResponse:
        """Block until `until` holds for the session (default: it finished, stopped, or waits for the user), or
        until it stops without it holding; returns the session then. Raises `APITimeoutError` after `timeout` s.

        `until` is a status or status detail (`"finished"`, `"waiting_for_user"`, `"error"`), several of them, or a
        predicate on the `SessionResponse`. It follows the live stream, so it returns as soon as the status changes.
        """
        check = condition(until)
        session = self.get(devin_id)
        if check(session):
            return session
        for event in self.stream(devin_id, timeout=timeout):
            if event.event_type == "status_changed":
                session = self.get(devin_id)
                if check(session):
                    return session
        return self.get(devin_id)

    def attachments(self, devin_id: str) -> builtins.list[SessionAttachment]:
        """The files of the session, uploaded by the user or attached by the agent."""
        return self._run(_attachments(devin_id))

    def archive(self, devin_id: str) -> SessionResponse:
        """Archive the session (stopping it if it runs); it then takes no more messages."""
        return self._run(_archive(devin_id))

    def terminate(self, devin_id: str, *, archive: bool = False) -> SessionResponse:
        """Stop the session for good (`exit` / `user_request`); optionally archive it too."""
        return self._run(_terminate(devin_id, archive))

    def tags(self, devin_id: str) -> builtins.list[str]:
        return self._run(_tags("GET", devin_id))

    def set_tags(self, devin_id: str, tags: Sequence[str]) -> builtins.list[str]:
        """Replace the session's tags."""
        return self._run(_tags("PUT", devin_id, tags))

    def add_tags(self, devin_id: str, tags: Sequence[str]) -> builtins.list[str]:
        """Add tags (duplicates are ignored); returns the full set."""
        return self._run(_tags("POST", devin_id, tags))

    def changes(self, devin_id: str) -> SessionChanges:
        """Per repository: the agent's commits since the clone, their diffstat, whether work is uncommitted."""
        return self._run(_changes(devin_id))

    def bundle(self, devin_id: str, index: int) -> bytes:
        """A git bundle of the agent's commits in repository ``index`` (its ref is ``refs/heads/codeyard``)."""
        return self._run(_download(devin_id, index, "bundle"))

    def patch(self, devin_id: str, index: int) -> bytes:
        """The uncommitted work of repository ``index`` as a binary git patch (empty when there is none)."""
        return self._run(_download(devin_id, index, "patch"))


class AsyncSessions(AsyncResource):
    async def create(
        self,
        *,
        prompt: str,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        repos: Sequence[str] | None = None,
        attachment_urls: Sequence[str] | None = None,
        playbook_id: str | None = None,
        knowledge_ids: Sequence[str] | NotGiven | None = NOT_GIVEN,
        secret_ids: Sequence[str] | NotGiven | None = NOT_GIVEN,
        session_secrets: Sequence[SessionSecret] | None = None,
        max_acu_limit: float | None = None,
        structured_output_schema: Mapping[str, Any] | None = None,
        wait: bool = False,
        wait_timeout: float | None = None,
        **extra: Any,
    ) -> SessionResponse:
        """Start a session. `knowledge_ids`/`secret_ids`: omitted or None = all, `[]` = none.

        `wait=True` returns only once the agent needs nothing more (see `wait`), with the session as it is then.
        `extra` passes other `SessionCreateRequest` fields through (`platform`, `devin_mode`, ...).
        """
        fields = {
            "prompt": prompt,
            "title": title,
            "tags": tags,
            "repos": repos,
            "attachment_urls": attachment_urls,
            "playbook_id": playbook_id,
            "knowledge_ids": knowledge_ids,
            "secret_ids": secret_ids,
            "session_secrets": session_secrets,
            "max_acu_limit": max_acu_limit,
            "structured_output_schema": structured_output_schema,
        }
        session = await self._run(_create(fields, extra))
        return await self.wait(session.session_id, timeout=wait_timeout) if wait else session

    async def get(self, devin_id: str) -> SessionResponse:
        return await self._run(_get(devin_id))

    async def list(
        self, *, after: str | None = None, first: int | None = None, **filters: Unpack[SessionFilters]
    ) -> Page[SessionResponse]:
        """One page of sessions, newest first."""
        return await self._run(_list(after, first, filters))

    def list_all(
        self, *, first: int | None = None, **filters: Unpack[SessionFilters]
    ) -> AsyncIterator[SessionResponse]:
        """Every matching session, newest first, fetched page by page as the iterator advances."""
        return self._iterate(_list(None, first, filters))

    async def messages(
        self, devin_id: str, *, after: str | None = None, first: int | None = None
    ) -> Page[SessionMessage]:
        """One page of messages, oldest first."""
        return await self._run(_messages(devin_id, after, first))

    def iter_messages(
        self, devin_id: str, *, after: str | None = None, first: int | None = None
    ) -> AsyncIterator[SessionMessage]:
        """Every message after the cursor `after` (all when None), oldest first."""
        return self._iterate(_messages(devin_id, after, first))

    async def send_message(
        self, devin_id: str, message: str, *, attachment_urls: Sequence[str] | None = None
    ) -> SessionResponse:
        """Send a message; a suspended or finished session resumes."""
        return await self._run(_send_message(devin_id, message, attachment_urls))

    async def events(
        self, devin_id: str, *, after: str | None = None, first: int | None = None, **filters: Unpack[EventFilters]
    ) -> Page[SessionEvent]:
        return await self._run(_events(devin_id, after, first, filters))

    def iter_events(
        self, devin_id: str, *, first: int | None = None, **filters: Unpack[EventFilters]
    ) -> AsyncIterator[SessionEvent]:
        return self._iterate(_events(devin_id, None, first, filters))

    def stream(
        self, devin_id: str, *, last_event_id: str | None = None, max_reconnects: int = 5, timeout: float | None = None
    ) -> AsyncIterator[SessionEvent]:
        """Every event of the session as it happens (see `Sessions.stream`), resuming after a dropped connection."""
        return _streaming.afollow(
            self._client,
            stream_call(devin_id),
            last_event_id=last_event_id,
            max_reconnects=max_reconnects,
            timeout=timeout,
        )

    async def wait(self, devin_id: str, *, until: Until = None, timeout: float | None = None) -> SessionResponse:
        """Wait until `until` holds for the session, or it stops without it holding (see `Sessions.wait`)."""
        check = condition(until)
        session = await self.get(devin_id)
        if check(session):
            return session
        async for event in self.stream(devin_id, timeout=timeout):
            if event.event_type == "status_changed":
                session = await self.get(devin_id)
                if check(session):
                    return session
        return await self.get(devin_id)

    async def attachments(self, devin_id: str) -> builtins.list[SessionAttachment]:
        """The files of the session, uploaded by the user or attached by the agent."""
        return await self._run(_attachments(devin_id))

    async def archive(self, devin_id: str) -> SessionResponse:
        """Archive the session (stopping it if it runs); it then takes no more messages."""
        return await self._run(_archive(devin_id))

    async def terminate(self, devin_id: str, *, archive: bool = False) -> SessionResponse:
        """Stop the session for good (`exit` / `user_request`); optionally archive it too."""
        return await self._run(_terminate(devin_id, archive))

    async def tags(self, devin_id: str) -> builtins.list[str]:
        return await self._run(_tags("GET", devin_id))

    async def set_tags(self, devin_id: str, tags: Sequence[str]) -> builtins.list[str]:
        """Replace the session's tags."""
        return await self._run(_tags("PUT", devin_id, tags))

    async def add_tags(self, devin_id: str, tags: Sequence[str]) -> builtins.list[str]:
        """Add tags (duplicates are ignored); returns the full set."""
        return await self._run(_tags("POST", devin_id, tags))

    async def changes(self, devin_id: str) -> SessionChanges:
        """Per repository: the agent's commits since the clone, their diffstat, whether work is uncommitted."""
        return await self._run(_changes(devin_id))

    async def bundle(self, devin_id: str, index: int) -> bytes:
        """A git bundle of the agent's commits in repository ``index`` (its ref is ``refs/heads/codeyard``)."""
        return await self._run(_download(devin_id, index, "bundle"))

    async def patch(self, devin_id: str, index: int) -> bytes:
        """The uncommitted work of repository ``index`` as a binary git patch (empty when there is none)."""
        return await self._run(_download(devin_id, index, "patch"))
