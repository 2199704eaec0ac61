"""From stored rows to wire responses: epoch ints, signed links, both id spellings."""

from fastapi import Response
from pydantic import BaseModel

from codeyard.api.schemas.sessions import (
    AttachmentItem,
    EventResponse,
    MessageResponse,
    PullRequest,
    SessionResponse,
)
from codeyard.services.attachments import Attachments
from codeyard.services.sessions import MessageView, SessionView
from codeyard.storage.tables import Attachment, EventRow


def session(row: SessionView, public_url: str, queue_position: int | None = None) -> SessionResponse:
    return SessionResponse(
        session_id=row.id,
        url=f"{public_url}/sessions/{row.id.removeprefix('devin-')}",
        status=row.status,
        status_detail=row.status_detail,
        title=row.title,
        tags=list(row.tags),
        org_id=row.org_id,
        user_id=row.user_id,
        service_user_id=row.service_user_id,
        playbook_id=row.playbook_id,
        parent_session_id=row.parent_session_id,
        child_session_ids=[],
        is_archived=row.is_archived,
        origin=row.origin,
        category=row.category,
        subcategory=row.subcategory,
        created_at=int(row.created_at),
        updated_at=int(row.updated_at),
        acus_consumed=round(row.acus_consumed, 4),
        pull_requests=[
            PullRequest(pr_url=pr["pr_url"], pr_state=pr.get("pr_state"), url=pr["pr_url"]) for pr in row.pull_requests
        ],
        structured_output=row.structured_output,
        queue_position=queue_position,
        schedule_id=row.schedule_id,
        repos=list(row.repos),
        max_acu_limit=row.max_acu_limit,
        error_message=row.error_message,
    )


def message(row: MessageView) -> MessageResponse:
    return MessageResponse(
        event_id=row.id,
        source=row.source,
        message=row.message,
        created_at=int(row.created_at),
    )


def event(row: EventRow) -> EventResponse:
    return EventResponse(
        event_id=row.id,
        event_type=row.event_type,
        category=row.category,
        direction=row.direction,
        summary=row.summary,
        created_at=int(row.created_at),
        details=row.details or {},
    )


def attachment_item(att: Attachment, source: str, attachments: Attachments) -> AttachmentItem:
    return AttachmentItem(
        attachment_id=att.id,
        name=att.name,
        source=source,
        url=attachments.signed_url(att),
        content_type=att.content_type,
    )


def json(body: BaseModel, headers: dict[str, str]) -> Response:
    """``body`` serialised once by pydantic's compiled serializer, straight into the response.

    For the hot reads: FastAPI would validate the returned model again against ``response_model``, turn it into
    Python objects and encode those with ``json.dumps``. ``body`` was built (and validated) from the documented
    model, so its JSON is what the document says.
    """
    return Response(body.__pydantic_serializer__.to_json(body), media_type="application/json", headers=headers)
