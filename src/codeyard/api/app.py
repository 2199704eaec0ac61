"""``create_app(settings)``: the FastAPI application, its middleware, routers and lifespan."""

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from codeyard import __version__
from codeyard.api import docs, errors
from codeyard.api.aliases import BetaAliasMiddleware
from codeyard.api.body_limit import BodyLimitMiddleware
from codeyard.api.deps import org_in_path
from codeyard.api.hot_reads import HotReadsMiddleware
from codeyard.api.nul_guard import NulGuardMiddleware
from codeyard.api.problem_docs import add_problem_responses
from codeyard.api.ratelimit import RateLimiter
from codeyard.api.request_id import RequestIdMiddleware
from codeyard.api.routes import (
    attachments,
    consumption,
    enterprise_library,
    enterprise_sessions,
    event_search,
    identity,
    insights,
    knowledge,
    members,
    metrics,
    org_tags,
    pages,
    playbooks,
    schedules,
    secrets,
    sessions,
    streams,
    v1,
    webhooks as webhook_routes,
)
from codeyard.api.routes.git import router as git_router
from codeyard.api.state import AppState
from codeyard.api.surrogates import SurrogateGuardMiddleware
from codeyard.config import Settings
from codeyard.services.container import Services

ORG_ROUTERS: list[APIRouter] = [
    insights.router,
    event_search.router,
    sessions.router,
    attachments.router,
    knowledge.router,
    playbooks.router,
    secrets.router,
    schedules.router,
    git_router,
    consumption.router,
    members.router,
    metrics.router,
    webhook_routes.router,
    streams.router,
]
"""Routers served under both ``/v3/organizations/{org_id}`` and ``/v3/organizations`` (org keys)."""


class Background(Protocol):
    """Something that runs beside the API for the application's lifetime (the runner, the schedule ticker)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(
    settings: Settings, services: Services, *, background: Sequence[Background] = (), hot_reads: bool = True
) -> FastAPI:
    """The API over ready services; ``background`` parts start and stop with the application.

    ``hot_reads=False`` leaves the two hottest reads to the routes (``api.hot_reads``): the tests compare both."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        started: list[Background] = []
        try:
            for part in background:
                await part.start()
                started.append(part)
            yield
        finally:
            for part in reversed(started):
                await part.stop()
            await services.event_feed.close()  # and with it the feed's LISTEN subscription

    app = FastAPI(
        title="codeyard",
        version=__version__,
        description="Self-hosted autonomous coding sessions behind a Devin-API-v3-compatible HTTP API.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,
        redoc_url=None,
        # FastAPI's OpenTelemetry hooks look for configured providers on every request; codeyard has its own
        # access log and lifecycle lines and sets up no OpenTelemetry.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.codeyard = AppState(settings, services, RateLimiter(settings.rate_limit, settings.auth_failure_limit))
    errors.install(app)
    if hot_reads:  # innermost: every guard and the request id apply to the hot reads too
        app.add_middleware(HotReadsMiddleware, state=app.state.codeyard)
    app.add_middleware(NulGuardMiddleware)  # inside the body limit: it reads only bodies under the cap
    app.add_middleware(SurrogateGuardMiddleware)  # innermost of the three: it reads bodies BodyLimit has capped
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes, upload_limit=settings.attachment_max_bytes)
    app.add_middleware(RequestIdMiddleware, access_log=settings.access_log)
    app.add_middleware(BetaAliasMiddleware)

    app.include_router(identity.router)
    app.include_router(consumption.enterprise_router)
    app.include_router(members.enterprise_router)
    app.include_router(enterprise_sessions.router)
    app.include_router(enterprise_library.router)
    app.include_router(org_tags.router)
    for router in ORG_ROUTERS:
        # The org-less form first: its paths start with a literal resource name, so they never shadow an org id.
        app.include_router(router, prefix="/v3/organizations", include_in_schema=False)
        app.include_router(router, prefix="/v3/organizations/{org_id}", dependencies=[Depends(org_in_path)])
    app.include_router(attachments.public_router)
    app.include_router(v1.router)
    app.include_router(pages.router)
    if settings.docs_enabled:
        docs.install(app)

    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problem_responses(generate_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        await services.db.ping()
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Ready for traffic: the database and the blob store answer (a load balancer's health check)."""
        checks = await services.readiness()
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
        )

    return app
