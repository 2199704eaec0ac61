"""Session insights (devin-api-reference §5.8): per session, listed, and generated on request.

Served before the sessions router so that ``/sessions/insights`` is not read as a session id.
"""

from fastapi import APIRouter

from codeyard.api import render
from codeyard.api.deps import OrgId, StateDep, require
from codeyard.api.routes.sessions import Filters
from codeyard.api.schemas.common import First, Paginated
from codeyard.api.schemas.insights import InsightsGenerateResponse, SessionInsightsResponse, SessionMetrics
from codeyard.services.insights import SessionInsight
from codeyard.services.principal import Permission

router = APIRouter(tags=["insights"])
VIEW = [require(Permission.VIEW_SESSIONS)]
MANAGE = [require(Permission.MANAGE_SESSIONS)]


def insight_response(insight: SessionInsight, public_url: str) -> SessionInsightsResponse:
    base = render.session(insight.session, public_url)
    metrics = insight.metrics
    return SessionInsightsResponse(
        **base.model_dump(),
        num_devin_messages=metrics.num_devin_messages,
        num_user_messages=metrics.num_user_messages,
        session_size=insight.size,
        analysis=insight.analysis,
        analysis_status=insight.analysis_status,
        metrics=SessionMetrics(**metrics.to_json()),
    )


@router.get("/sessions/insights", response_model=Paginated[SessionInsightsResponse], dependencies=VIEW)
async def list_session_insights(
    org: OrgId, state: StateDep, filters: Filters, after: str | None = None, first: First = 100
) -> Paginated[SessionInsightsResponse]:
    page = await state.services.sessions.list_sessions(org, filters, after=after, first=first)
    insights = await state.services.insights.for_sessions(page.items)
    public = state.settings.resolved_public_url
    return Paginated(
        items=[insight_response(i, public) for i in insights],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )


@router.get("/sessions/{devin_id}/insights", response_model=SessionInsightsResponse, dependencies=VIEW)
async def get_session_insights(devin_id: str, org: OrgId, state: StateDep) -> SessionInsightsResponse:
    insight = await state.services.insights.get(org, devin_id)
    return insight_response(insight, state.settings.resolved_public_url)


@router.post("/sessions/{devin_id}/insights/generate", response_model=InsightsGenerateResponse, dependencies=MANAGE)
async def generate_session_insights(devin_id: str, org: OrgId, state: StateDep) -> InsightsGenerateResponse:
    session_id, status = await state.services.insights.request(org, devin_id)
    return InsightsGenerateResponse(session_id=session_id, status=status)
