"""The receiver: an ASGI application answering ProspectPro's webhooks.

    uvicorn prospectpro.app:create_app --factory      (or: prospectpro serve)

It keeps no business state: every decision it records goes through one SQL
call, so it can be killed at any moment without losing anything.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.convertors import IntegerConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import batches, openapi, pipeline, providers, schemas
from .auth import Rejected, authenticated_json
from .batches import Batcher
from .metrics import Metrics
from .settings import Settings

log = logging.getLogger("prospectpro.receiver")

# Connections per provider origin: enough for every webhook in flight.
PROVIDER_CONNECTIONS = 50

Handler = Callable[[Request, str, dict[str, Any]], Awaitable[JSONResponse]]
ROUTES = {
    "lead_enrichment": "/api/webhooks/lead-enrichment",
    "cost_alert": "/api/webhooks/cost-alert",
    "campaign_lifecycle": "/api/webhooks/campaign-lifecycle",
}


class IdConvertor(IntegerConvertor):
    """A database id in a path: at most 19 digits. Starlette's int takes any
    number of digits, and int() refuses more than 4300 (a 500 for a long path)."""

    regex = "[0-9]{1,19}"


register_url_convertor("id", IdConvertor())


CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def is_canonical_uuid(value: str) -> bool:
    """A UUID as the database sends it. uuid.UUID() also takes spellings that
    PostgreSQL's uuid refuses ("urn:uuid:...", "{{...}}"): a 500 once queried."""
    return CANONICAL_UUID.fullmatch(value) is not None


def webhook(webhook_type: str, handle: Handler):
    """A route that authenticates and validates, then hands the payload on."""

    async def endpoint(request: Request) -> JSONResponse:
        state = request.app.state
        try:
            payload = await authenticated_json(request, state.settings)
            problems = schemas.problems(webhook_type, payload)
            if problems:
                raise Rejected(422, f"invalid {webhook_type} payload", problems)
            webhook_id = request.headers.get("webhook-id", "")
            if webhook_type == "lead_enrichment" and not is_canonical_uuid(webhook_id):
                raise Rejected(
                    400, "webhook-id header must be the event's UUID (8-4-4-4-12 hex digits)"
                )
        except Rejected as rejected:
            state.metrics.webhooks.labels(webhook_type, f"rejected_{rejected.status}").inc()
            body = {"error": rejected.reason}
            if rejected.details:
                body["details"] = rejected.details
            headers = {"www-authenticate": "Bearer"} if rejected.status == 401 else None
            return JSONResponse(body, rejected.status, headers=headers)
        response = await handle(request, webhook_id, payload)
        state.metrics.webhooks.labels(webhook_type, str(response.status_code)).inc()
        return response

    return endpoint


def health(webhook_type: str):
    async def endpoint(request: Request) -> JSONResponse:
        checks = await pipeline.health_checks(request.app.state, webhook_type)
        healthy = all(check["ok"] for check in checks.values())
        return JSONResponse(
            {"status": "healthy" if healthy else "unhealthy", "checks": checks},
            200 if healthy else 503,
        )

    return endpoint


async def metrics(request: Request) -> Response:
    state = request.app.state
    try:
        await state.metrics.database.refresh(state.metrics_pool)
    except Exception as exc:
        log.warning("metrics: database figures unavailable (%s)", type(exc).__name__)
    body = generate_latest(state.metrics.registry)
    return Response(body, 200, media_type=CONTENT_TYPE_LATEST)


async def _open_pool(url: str, max_size: int) -> AsyncConnectionPool:
    # It connects in the background: the receiver starts (and reports
    # unhealthy) while the database is down, and reconnects by itself.
    pool = AsyncConnectionPool(
        url, min_size=1, max_size=max_size, open=False, kwargs={"autocommit": True}
    )
    await pool.open(wait=False)
    return pool


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        pool = await _open_pool(settings.database_url, max_size=10)
        metrics_pool = pool
        if settings.metrics_database_url:
            metrics_pool = await _open_pool(settings.metrics_database_url, max_size=2)
        config = app.state.providers
        for provider, variable in config.missing_keys().items():
            log.warning(
                "%s is not configured: %s is not set; lead enrichment stages that need it "
                "fail without calling it, and /api/webhooks/lead-enrichment/health answers 503",
                provider,
                variable,
            )
        async with providers.client(PROVIDER_CONNECTIONS, config.allow_networks) as http:
            app.state.pool = pool
            app.state.metrics_pool = metrics_pool
            app.state.leads = Batcher(pool, batches.read_leads)
            app.state.outcomes = Batcher(pool, batches.apply_outcomes)
            app.state.http = http
            try:
                yield
            finally:
                await pool.close()
                if metrics_pool is not pool:
                    await metrics_pool.close()

    handlers: dict[str, Handler] = {
        "lead_enrichment": pipeline.lead_enrichment,
        "cost_alert": pipeline.cost_alert,
        "campaign_lifecycle": pipeline.campaign_lifecycle,
    }
    description = openapi.document(ROUTES)

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(description)

    routes = [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/metrics", metrics),
        Route("/api/campaigns/{campaign_id:id}/export.csv", pipeline.export_csv),
    ]
    for webhook_type, path in ROUTES.items():
        routes.append(Route(path, webhook(webhook_type, handlers[webhook_type]), methods=["POST"]))
        routes.append(Route(path + "/health", health(webhook_type), methods=["GET"]))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = Metrics(settings.metrics_cache_seconds)
    app.state.providers = providers.ProviderConfig.from_env()
    return app
