"""`Client` and `AsyncClient`: configuration, the resources, and the send loop (retries, redirects, errors).

Everything about a request except the I/O lives in `_BaseClient` and `_request.Call`, so the two clients
only differ in `_send` (blocking vs awaited) and in the resource classes they hand out.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import httpx2
from pydantic import ValidationError

from codeyard.sdk._config import ClientOptions
from codeyard.sdk._errors import APIConnectionError, APIResponseValidationError, APITimeoutError, status_error
from codeyard.sdk._request import Call, NotGiven, model
from codeyard.sdk._retry import RetryPolicy
from codeyard.sdk._transport import AsyncLazyTLSTransport, LazyTLSTransport
from codeyard.sdk.types import Page, Principal

if TYPE_CHECKING:  # each resource module is imported when first used: a command needs one or two of them
    from codeyard.sdk.resources.attachments import AsyncAttachments, Attachments
    from codeyard.sdk.resources.git_connections import AsyncGitConnections, GitConnections
    from codeyard.sdk.resources.knowledge import AsyncKnowledge, Knowledge
    from codeyard.sdk.resources.organizations import AsyncOrganizations, Organizations
    from codeyard.sdk.resources.playbooks import AsyncPlaybooks, Playbooks
    from codeyard.sdk.resources.schedules import AsyncSchedules, Schedules
    from codeyard.sdk.resources.secrets import AsyncSecrets, Secrets
    from codeyard.sdk.resources.sessions import AsyncSessions, Sessions
    from codeyard.sdk.resources.webhooks import AsyncWebhooks, Webhooks

T = TypeVar("T")

MAX_REDIRECTS = 5


class _BaseClient:
    def __init__(self, options: ClientOptions) -> None:
        self._options = options
        self._retry = RetryPolicy(max_retries=options.max_retries)

    @property
    def base_url(self) -> str:
        return self._options.base_url

    @property
    def org_id(self) -> str | None:
        return self._options.org_id

    @property
    def max_retries(self) -> int:
        return self._options.max_retries

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, org_id={self.org_id!r})"

    def _build_request(self, http: httpx2.Client | httpx2.AsyncClient, call: Call[Any]) -> httpx2.Request:
        files = None
        if call.files:
            files = {field: (part.filename, part.content, part.content_type) for field, part in call.files.items()}
        return http.build_request(
            call.method,
            self._options.url_for(call),
            params=call.query or None,
            json=None if isinstance(call.json, NotGiven) else call.json,
            files=files,
            headers=self._options.headers(call),
            timeout=self._options.timeout,
        )

    def _stream_request(
        self, http: httpx2.Client | httpx2.AsyncClient, call: Call[Any], last_event_id: str | None, read: float | None
    ) -> httpx2.Request:
        """A request for an event stream: resuming after `last_event_id`, reading for at most `read` seconds."""
        request = self._build_request(http, call)
        request.headers["Accept"] = "text/event-stream"
        if last_event_id is not None:
            request.headers["Last-Event-ID"] = last_event_id
        base = self._options.timeout
        timeout = base if isinstance(base, httpx2.Timeout) else httpx2.Timeout(base)
        if read is not None:
            limited = httpx2.Timeout(
                connect=timeout.connect, read=min(read, timeout.read or read), write=timeout.write, pool=timeout.pool
            )
            request.extensions["timeout"] = limited.as_dict()
        return request

    def _retry_delay(self, call: Call[Any], response: httpx2.Response, attempt: int) -> float | None:
        if response.is_success or response.is_redirect:
            return None
        return self._retry.delay_after_response(response, attempt, idempotent=call.is_idempotent)

    def _error_retry_delay(self, call: Call[Any], error: httpx2.RequestError, attempt: int) -> float | None:
        return self._retry.delay_after_error(error, attempt, idempotent=call.is_idempotent)

    @staticmethod
    def _redirect(call: Call[T], response: httpx2.Response) -> Call[T] | None:
        """The call that follows `response` when it is a redirect (a download handing out a signed link).

        Only GETs are followed: no endpoint that changes state redirects, and replaying one elsewhere is unsafe.
        """
        if call.method != "GET" or not response.is_redirect:
            return None
        return call.redirected(str(response.url.join(response.headers["location"])))

    @staticmethod
    def _finish(call: Call[T], response: httpx2.Response) -> T:
        if not response.is_success:
            raise status_error(response)
        try:
            result = call.parse(response)
        except (ValidationError, ValueError, KeyError, TypeError) as exc:
            raise APIResponseValidationError(
                f"unexpected response to {call.method} {response.url.path}: {exc}", response=response
            ) from exc
        # Asking again with the cursor just sent would return this same page forever.
        if _repeats_cursor(call, result):
            raise APIResponseValidationError(
                f"unexpected response to {call.method} {response.url.path}: the next page's cursor is the one "
                "just requested (the server repeats a page)",
                response=response,
            )
        return result


def _repeats_cursor(call: Call[Any], result: object) -> bool:
    """Whether `result` is a page announcing more whose cursor is the one `call` asked with."""
    if not isinstance(result, Page) or not result.has_next_page or result.end_cursor is None:
        return False
    return result.end_cursor == dict(call.query).get("after")


def _connection_error(error: httpx2.RequestError) -> APIConnectionError:
    # The query is dropped from the message: a signed link's signature is a credential too.
    url = error.request.url.copy_with(query=None)
    where = f"{error.request.method} {url}"
    if isinstance(error, httpx2.TimeoutException):
        return APITimeoutError(f"request timed out: {where}")
    if isinstance(error, httpx2.LocalProtocolError):
        # httpx's text for a request it refuses to send quotes the offending header, which may be the key.
        return APIConnectionError(f"cannot send the request: {where}: it is not valid HTTP ({type(error).__name__})")
    return APIConnectionError(f"cannot reach the API: {where}: {error}")


class Client(_BaseClient):
    """Blocking client. Settings default to DEVIN_API_URL, DEVIN_API_KEY and DEVIN_ORG_ID.

    `http_client` lets tests and embedders supply their own `httpx2.Client` (for example one with an
    in-process transport); the client closes only an HTTP client it created itself.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        org_id: str | None = None,
        *,
        max_retries: int = 2,
        timeout: float | httpx2.Timeout = 60.0,
        http_client: httpx2.Client | None = None,
    ) -> None:
        super().__init__(ClientOptions.resolve(base_url, api_key, org_id, max_retries=max_retries, timeout=timeout))
        self._owns_http = http_client is None
        self._http = http_client or httpx2.Client(timeout=timeout, transport=LazyTLSTransport())

    @cached_property
    def sessions(self) -> Sessions:
        from codeyard.sdk.resources.sessions import Sessions

        return Sessions(self)

    @cached_property
    def attachments(self) -> Attachments:
        from codeyard.sdk.resources.attachments import Attachments

        return Attachments(self)

    @cached_property
    def organizations(self) -> Organizations:
        from codeyard.sdk.resources.organizations import Organizations

        return Organizations(self)

    @cached_property
    def knowledge(self) -> Knowledge:
        from codeyard.sdk.resources.knowledge import Knowledge

        return Knowledge(self)

    @cached_property
    def playbooks(self) -> Playbooks:
        from codeyard.sdk.resources.playbooks import Playbooks

        return Playbooks(self)

    @cached_property
    def secrets(self) -> Secrets:
        from codeyard.sdk.resources.secrets import Secrets

        return Secrets(self)

    @cached_property
    def schedules(self) -> Schedules:
        from codeyard.sdk.resources.schedules import Schedules

        return Schedules(self)

    @cached_property
    def git_connections(self) -> GitConnections:
        from codeyard.sdk.resources.git_connections import GitConnections

        return GitConnections(self)

    @cached_property
    def webhooks(self) -> Webhooks:
        from codeyard.sdk.resources.webhooks import Webhooks

        return Webhooks(self)

    def whoami(self) -> Principal:
        """`GET /v3/self`: the service user behind the key and its organization."""
        return self._execute(Call("GET", "/self", model(Principal), scope="v3"))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _execute(self, call: Call[T]) -> T:
        response = self._send(call)
        for _ in range(MAX_REDIRECTS):
            follow = self._redirect(call, response)
            if follow is None:
                break
            call, response = follow, self._send(follow)
        return self._finish(call, response)

    @contextlib.contextmanager
    def _open_stream(
        self, call: Call[Any], last_event_id: str | None, read_timeout: float | None
    ) -> Iterator[Iterator[str]]:
        """The lines of an event stream (see `codeyard.sdk._streaming`); a non-2xx answer raises its status error."""
        request = self._stream_request(self._http, call, last_event_id, read_timeout)
        try:
            response = self._http.send(request, stream=True)
        except httpx2.RequestError as exc:
            raise _connection_error(exc) from exc
        try:
            if not response.is_success:
                response.read()
                raise status_error(response)
            yield response.iter_lines()
        finally:
            response.close()

    def _send(self, call: Call[Any]) -> httpx2.Response:
        attempt = 0
        while True:
            request = self._build_request(self._http, call)
            try:
                response = self._http.send(request)
            except httpx2.RequestError as exc:
                delay = self._error_retry_delay(call, exc, attempt)
                if delay is None:
                    raise _connection_error(exc) from exc
            else:
                delay = self._retry_delay(call, response, attempt)
                if delay is None:
                    return response
                response.close()
            time.sleep(delay)
            attempt += 1


class AsyncClient(_BaseClient):
    """Asyncio client with the same resources and methods as `Client` (each one awaited)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        org_id: str | None = None,
        *,
        max_retries: int = 2,
        timeout: float | httpx2.Timeout = 60.0,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        super().__init__(ClientOptions.resolve(base_url, api_key, org_id, max_retries=max_retries, timeout=timeout))
        self._owns_http = http_client is None
        self._http = http_client or httpx2.AsyncClient(timeout=timeout, transport=AsyncLazyTLSTransport())

    @cached_property
    def sessions(self) -> AsyncSessions:
        from codeyard.sdk.resources.sessions import AsyncSessions

        return AsyncSessions(self)

    @cached_property
    def attachments(self) -> AsyncAttachments:
        from codeyard.sdk.resources.attachments import AsyncAttachments

        return AsyncAttachments(self)

    @cached_property
    def organizations(self) -> AsyncOrganizations:
        from codeyard.sdk.resources.organizations import AsyncOrganizations

        return AsyncOrganizations(self)

    @cached_property
    def knowledge(self) -> AsyncKnowledge:
        from codeyard.sdk.resources.knowledge import AsyncKnowledge

        return AsyncKnowledge(self)

    @cached_property
    def playbooks(self) -> AsyncPlaybooks:
        from codeyard.sdk.resources.playbooks import AsyncPlaybooks

        return AsyncPlaybooks(self)

    @cached_property
    def secrets(self) -> AsyncSecrets:
        from codeyard.sdk.resources.secrets import AsyncSecrets

        return AsyncSecrets(self)

    @cached_property
    def schedules(self) -> AsyncSchedules:
        from codeyard.sdk.resources.schedules import AsyncSchedules

        return AsyncSchedules(self)

    @cached_property
    def git_connections(self) -> AsyncGitConnections:
        from codeyard.sdk.resources.git_connections import AsyncGitConnections

        return AsyncGitConnections(self)

    @cached_property
    def webhooks(self) -> AsyncWebhooks:
        from codeyard.sdk.resources.webhooks import AsyncWebhooks

        return AsyncWebhooks(self)

    async def whoami(self) -> Principal:
        """`GET /v3/self`: the service user behind the key and its organization."""
        return await self._execute(Call("GET", "/self", model(Principal), scope="v3"))

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _execute(self, call: Call[T]) -> T:
        response = await self._send(call)
        for _ in range(MAX_REDIRECTS):
            follow = self._redirect(call, response)
            if follow is None:
                break
            call, response = follow, await self._send(follow)
        return self._finish(call, response)

    @contextlib.asynccontextmanager
    async def _open_stream(
        self, call: Call[Any], last_event_id: str | None, read_timeout: float | None
    ) -> AsyncIterator[AsyncIterator[str]]:
        """The lines of an event stream (see `codeyard.sdk._streaming`); a non-2xx answer raises its status error."""
        request = self._stream_request(self._http, call, last_event_id, read_timeout)
        try:
            response = await self._http.send(request, stream=True)
        except httpx2.RequestError as exc:
            raise _connection_error(exc) from exc
        try:
            if not response.is_success:
                await response.aread()
                raise status_error(response)
            yield response.aiter_lines()
        finally:
            await response.aclose()

    async def _send(self, call: Call[Any]) -> httpx2.Response:
        attempt = 0
        while True:
            request = self._build_request(self._http, call)
            try:
                response = await self._http.send(request)
            except httpx2.RequestError as exc:
                delay = self._error_retry_delay(call, exc, attempt)
                if delay is None:
                    raise _connection_error(exc) from exc
            else:
                delay = self._retry_delay(call, response, attempt)
                if delay is None:
                    return response
                await response.aclose()
            import asyncio  # not at import: a blocking client's program need not load it

            await asyncio.sleep(delay)
            attempt += 1
