"""A session's events in full (``…/events/details``) and searched (``…/events/search``), for the generated SDK."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from codeyard.api.deps import OrgId, ServicesDep, require
from codeyard.api.routes.sessions import Epoch, multi
from codeyard.api.schemas.common import First
from codeyard.services.principal import Permission

router = APIRouter(tags=["sessions"], dependencies=[require(Permission.VIEW_SESSIONS)])
Direction = Literal["incoming", "outgoing"]


class EventDetailItem(BaseModel):
    event_id: str
    event_type: str
    category: str
    direction: Direction
    created_at: int
    contents: dict[str, Any]
    """The event's details (redacted when stored), strings cut to ``max_content_length``."""
    truncated_fields: list[str] = Field(default_factory=list)


class EventDetailsResponse(BaseModel):
    items: list[EventDetailItem]


class EventSearchItem(BaseModel):
    event_id: str
    event_type: str
    category: str
    direction: Direction
    created_at: int
    summary: str
    match_context: str


class EventSearchResponse(BaseModel):
    items: list[EventSearchItem]
    end_cursor: str | None = None
    has_next_page: bool = False
    total: int | None = None


@router.get("/sessions/{devin_id}/events/details", response_model=EventDetailsResponse)
async def get_event_details(
    request: Request,
    devin_id: str,
    org: OrgId,
    services: ServicesDep,
    event_ids: Annotated[list[str] | None, Query()] = None,
    offset: Annotated[int | None, Query(ge=0, le=10_000_000)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    max_content_length: Annotated[int, Query(ge=100, le=100_000)] = 10_000,
) -> EventDetailsResponse:
    found = await services.event_search.details(
        org,
        devin_id,
        event_ids=multi(request, "event_ids", event_ids),
        offset=offset,
        limit=limit,
        max_content_length=max_content_length,
    )
    return EventDetailsResponse(
        items=[
            EventDetailItem(
                event_id=d.row.id,
                event_type=d.row.event_type,
                category=d.row.category,
                direction=d.row.direction,
                created_at=int(d.row.created_at),
                contents=d.contents,
                truncated_fields=d.truncated_fields,
            )
            for d in found
        ]
    )


@router.get("/sessions/{devin_id}/events/search", response_model=EventSearchResponse)
async def search_events(
    request: Request,
    devin_id: str,
    org: OrgId,
    services: ServicesDep,
    query: Annotated[str, Query(max_length=1000, description="The search text (required).")] = "",
    after: str | None = None,
    first: First = 100,
    categories: Annotated[list[str] | None, Query()] = None,
    event_types: Annotated[list[str] | None, Query()] = None,
    direction: Direction | None = None,
    created_after: Epoch | None = None,
    created_before: Epoch | None = None,
) -> EventSearchResponse:
    hits, end, more = await services.event_search.search(
        org,
        devin_id,
        query,
        after=after,
        first=first,
        categories=multi(request, "categories", categories),
        event_types=multi(request, "event_types", event_types),
        direction=direction,
        created_after=created_after,
        created_before=created_before,
    )
    return EventSearchResponse(
        items=[
            EventSearchItem(
                event_id=h.row.id,
                event_type=h.row.event_type,
                category=h.row.category,
                direction=h.row.direction,
                created_at=int(h.row.created_at),
                summary=h.row.summary,
                match_context=h.match_context,
            )
            for h in hits
        ],
        end_cursor=end,
        has_next_page=more,
    )
