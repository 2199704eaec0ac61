"""`client.webhooks`: signed deliveries of the org's events to a URL (contract §10; org admins), and each
webhook's deliveries with their latest attempts. The signing secret is returned once, by `create`."""

from collections.abc import AsyncIterator, Iterator, Sequence

from codeyard.sdk._request import NOT_GIVEN, Call, NotGiven, body, model, path, query
from codeyard.sdk.resources._base import AsyncResource, SyncResource
from codeyard.sdk.types import Page, Webhook, WebhookDelivery


def _list(after: str | None, first: int | None) -> Call[Page[Webhook]]:
    return Call("GET", "/webhooks", model(Page[Webhook]), query=query(after=after, first=first), paging="cursor")


def _create(url: str, event_types: Sequence[str] | None, description: str | None) -> Call[Webhook]:
    fields = {"url": url, "event_types": None if event_types is None else list(event_types), "description": description}
    return Call("POST", "/webhooks", model(Webhook), json=body(fields, drop_none=("event_types", "description")))


def _one(method: str, webhook_id: str) -> Call[Webhook]:
    return Call(method, path("webhooks", webhook_id), model(Webhook))


def _update(
    webhook_id: str,
    url: str | NotGiven,
    event_types: Sequence[str] | NotGiven | None,
    description: str | NotGiven | None,
) -> Call[Webhook]:
    types = event_types if isinstance(event_types, NotGiven) or event_types is None else list(event_types)
    fields = body({"url": url, "event_types": types, "description": description})
    return Call("PATCH", path("webhooks", webhook_id), model(Webhook), json=fields)


def _deliveries(webhook_id: str, after: str | None, first: int | None) -> Call[Page[WebhookDelivery]]:
    return Call(
        "GET",
        path("webhooks", webhook_id, "deliveries"),
        model(Page[WebhookDelivery]),
        query=query(after=after, first=first),
        paging="cursor",
    )


class Webhooks(SyncResource):
    def list(self, *, after: str | None = None, first: int | None = None) -> Page[Webhook]:
        return self._run(_list(after, first))

    def list_all(self, *, first: int | None = None) -> Iterator[Webhook]:
        return self._iterate(_list(None, first))

    def create(self, *, url: str, event_types: Sequence[str] | None = None, description: str | None = None) -> Webhook:
        """Register a target; the answer's `secret` (`whsec_…`) verifies the signatures and is never shown again."""
        return self._run(_create(url, event_types, description))

    def get(self, webhook_id: str) -> Webhook:
        return self._run(_one("GET", webhook_id))

    def update(
        self,
        webhook_id: str,
        *,
        url: str | NotGiven = NOT_GIVEN,
        event_types: Sequence[str] | NotGiven | None = NOT_GIVEN,
        description: str | NotGiven | None = NOT_GIVEN,
    ) -> Webhook:
        """Change only the fields given; `event_types=None` subscribes to every type."""
        return self._run(_update(webhook_id, url, event_types, description))

    def delete(self, webhook_id: str) -> Webhook:
        return self._run(_one("DELETE", webhook_id))

    def deliveries(
        self, webhook_id: str, *, after: str | None = None, first: int | None = None
    ) -> Page[WebhookDelivery]:
        """Newest first, each with its `attempt_history` (the last 10 attempts)."""
        return self._run(_deliveries(webhook_id, after, first))

    def list_all_deliveries(self, webhook_id: str, *, first: int | None = None) -> Iterator[WebhookDelivery]:
        return self._iterate(_deliveries(webhook_id, None, first))


class AsyncWebhooks(AsyncResource):
    async def list(self, *, after: str | None = None, first: int | None = None) -> Page[Webhook]:
        return await self._run(_list(after, first))

    def list_all(self, *, first: int | None = None) -> AsyncIterator[Webhook]:
        return self._iterate(_list(None, first))

    async def create(
        self, *, url: str, event_types: Sequence[str] | None = None, description: str | None = None
    ) -> Webhook:
        """Register a target; the answer's `secret` (`whsec_…`) verifies the signatures and is never shown again."""
        return await self._run(_create(url, event_types, description))

    async def get(self, webhook_id: str) -> Webhook:
        return await self._run(_one("GET", webhook_id))

    async def update(
        self,
        webhook_id: str,
        *,
        url: str | NotGiven = NOT_GIVEN,
        event_types: Sequence[str] | NotGiven | None = NOT_GIVEN,
        description: str | NotGiven | None = NOT_GIVEN,
    ) -> Webhook:
        """Change only the fields given; `event_types=None` subscribes to every type."""
        return await self._run(_update(webhook_id, url, event_types, description))

    async def delete(self, webhook_id: str) -> Webhook:
        return await self._run(_one("DELETE", webhook_id))

    async def deliveries(
        self, webhook_id: str, *, after: str | None = None, first: int | None = None
    ) -> Page[WebhookDelivery]:
        """Newest first, each with its `attempt_history` (the last 10 attempts)."""
        return await self._run(_deliveries(webhook_id, after, first))

    def list_all_deliveries(self, webhook_id: str, *, first: int | None = None) -> AsyncIterator[WebhookDelivery]:
        return self._iterate(_deliveries(webhook_id, None, first))
