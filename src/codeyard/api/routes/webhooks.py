"""``/v3/organizations/{org_id}/webhooks…`` (contract §10, our extension): org admins manage the org's webhooks
and read each one's deliveries."""

from typing import Any

from fastapi import APIRouter

from codeyard.api.deps import Caller, OrgId, ServicesDep, require
from codeyard.api.schemas.common import First, Paginated
from codeyard.api.schemas.webhooks import (
    DeliveryAttempt,
    DeliveryResponse,
    WebhookCreate,
    WebhookResponse,
    WebhookUpdate,
)
from codeyard.services.principal import Permission
from codeyard.services.webhooks import WebhookSpec
from codeyard.storage.tables import Webhook, WebhookDelivery

router = APIRouter(tags=["webhooks"], dependencies=[require(Permission.MANAGE_WEBHOOKS)])


def webhook_response(row: Webhook, secret: str | None = None) -> WebhookResponse:
    return WebhookResponse(
        webhook_id=row.id,
        org_id=row.org_id,
        url=row.url,
        event_types=row.event_types,
        description=row.description,
        created_at=int(row.created_at),
        updated_at=int(row.updated_at),
        secret=secret,
    )


def delivery_response(row: WebhookDelivery) -> DeliveryResponse:
    def epoch(value: float | None) -> int | None:
        return None if value is None else int(value)

    return DeliveryResponse(
        delivery_id=row.id,
        webhook_id=row.webhook_id,
        message_id=row.message_id,
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        last_attempt_at=epoch(row.last_attempt_at),
        next_attempt_at=epoch(row.next_attempt_at) if row.status == "pending" else None,
        delivered_at=epoch(row.delivered_at),
        created_at=int(row.created_at),
        attempt_history=[_attempt(item) for item in row.attempt_log or [] if isinstance(item, dict)],
    )


def _attempt(item: dict[str, Any]) -> DeliveryAttempt:
    at, code, error, duration = (item.get(key) for key in ("at", "status_code", "error", "duration_ms"))
    return DeliveryAttempt(
        attempt=int(item.get("attempt") or 0),
        attempted_at=int(at) if isinstance(at, int | float) else 0,
        status_code=code if isinstance(code, int) else None,
        error=error if isinstance(error, str) else None,
        duration_ms=duration if isinstance(duration, int) else None,
    )


@router.get("/webhooks", response_model=Paginated[WebhookResponse])
async def list_webhooks(
    org: OrgId, services: ServicesDep, after: str | None = None, first: First = 100
) -> Paginated[WebhookResponse]:
    page = await services.webhooks.list_webhooks(org, after=after, first=first)
    return Paginated(
        items=[webhook_response(w) for w in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )


@router.post("/webhooks", response_model=WebhookResponse)
async def create_webhook(body: WebhookCreate, caller: Caller, org: OrgId, services: ServicesDep) -> WebhookResponse:
    spec = WebhookSpec(url=body.url, event_types=body.event_types, description=body.description)  # type: ignore[arg-type]
    created = await services.webhooks.create(caller.service_user_id, org, spec)
    return webhook_response(created.webhook, created.secret)


@router.get("/webhooks/{webhook_id}", response_model=WebhookResponse)
async def get_webhook(webhook_id: str, org: OrgId, services: ServicesDep) -> WebhookResponse:
    return webhook_response(await services.webhooks.get(org, webhook_id))


@router.patch("/webhooks/{webhook_id}", response_model=WebhookResponse)
async def update_webhook(webhook_id: str, body: WebhookUpdate, org: OrgId, services: ServicesDep) -> WebhookResponse:
    spec = WebhookSpec(
        url=body.url,
        event_types=body.event_types,  # type: ignore[arg-type]
        description=body.description,
        fields=frozenset(body.model_fields_set),
    )
    return webhook_response(await services.webhooks.update(org, webhook_id, spec))


@router.delete("/webhooks/{webhook_id}", response_model=WebhookResponse)
async def delete_webhook(webhook_id: str, org: OrgId, services: ServicesDep) -> WebhookResponse:
    return webhook_response(await services.webhooks.delete(org, webhook_id))


@router.get("/webhooks/{webhook_id}/deliveries", response_model=Paginated[DeliveryResponse])
async def list_deliveries(
    webhook_id: str, org: OrgId, services: ServicesDep, after: str | None = None, first: First = 100
) -> Paginated[DeliveryResponse]:
    page = await services.webhooks.deliveries(org, webhook_id, after=after, first=first)
    return Paginated(
        items=[delivery_response(d) for d in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )
