"""What the receiver does with each webhook once it is authenticated and valid.

Lead enrichment runs the stage's external calls and reports the outcome
in batches (prospectpro.apply_enrichment_batch(), see batches.py); the
database decides everything else (idempotency, the next stage, scoring, costs).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from . import contracts, export_files, providers
from .auth import Rejected, check_bearer
from .batches import NO_LEAD

log = logging.getLogger("prospectpro.receiver")

# Calls a failed stage made before failing were billed all the same.
BILLED_SQL = """
insert into prospectpro.api_costs (campaign_id, lead_id, api_name, cost, request_count)
values (%s, %s, %s, %s, %s)
"""
EXPORT_SQL = "select csv, row_count from prospectpro.campaign_exports where campaign_id = %s"
PROVIDER_STAGES = {
    "stage1": providers.stage1,
    "stage2": providers.stage2,
    "stage3": providers.stage3,
}


def _costs(calls: list[providers.Call]) -> list[dict[str, Any]]:
    return [
        {"api_name": c.api_name, "cost": str(c.cost), "request_count": c.request_count}
        for c in calls
    ]


def _as_found(lead: dict[str, Any]) -> dict[str, Any]:
    """The lead with what earlier stages found flattened, as the provider stages read it."""
    found: dict[str, Any] = {}
    for stage in PROVIDER_STAGES:
        found.update(lead["enrichment_data"].get(stage) or {})
    return {**lead, "enrichment_data": found}


def _count_calls(metrics, calls: list[providers.Call]) -> None:
    for call in calls:
        metrics.provider_calls.labels(call.api_name).inc(call.request_count)
        metrics.provider_cost.labels(call.api_name).inc(float(call.cost))


async def lead_enrichment(
    request: Request, webhook_id: str, payload: dict[str, Any]
) -> JSONResponse:
    state = request.app.state
    stage = payload["enrichment_stage"]
    lead_id = payload["lead_id"]
    if stage not in contracts.WORK_STAGES:
        return JSONResponse({"status": "acknowledged", "enrichment_stage": stage})

    lead = await state.leads.submit((webhook_id, lead_id))
    if lead is None:
        return JSONResponse({"status": "ignored", "reason": f"lead {lead_id} no longer exists"})
    if lead["seen"]:
        return JSONResponse(
            {"status": "duplicate", "reason": "this webhook-id was already applied"}
        )
    if lead["enrichment_stage"] != stage:
        # A late or repeated event: the lead has moved on; calling providers would waste money.
        return JSONResponse(
            {"status": "stale", "reason": f"lead is at {lead['enrichment_stage']}, not {stage}"}
        )

    started = time.perf_counter()
    result = providers.StageResult({})
    if stage in PROVIDER_STAGES:
        try:
            result = await PROVIDER_STAGES[stage](state.http, state.providers, _as_found(lead))
        except providers.ProviderError as exc:
            log.warning("lead %s %s failed: %s", lead_id, stage, exc)
            _count_calls(state.metrics, exc.calls)
            async with state.pool.connection() as conn:
                for call in exc.calls:
                    await conn.execute(
                        BILLED_SQL,
                        (
                            lead["campaign_id"],
                            lead_id,
                            call.api_name,
                            call.cost,
                            call.request_count,
                        ),
                    )
            # Non-2xx: the database delivers the event again after its backoff.
            return JSONResponse({"error": f"{stage} failed: {exc}"}, 502)
        _count_calls(state.metrics, result.calls)
    elapsed = time.perf_counter() - started
    state.metrics.stage_seconds.labels(stage).observe(elapsed)

    data = {**result.data, "duration_ms": round(elapsed * 1000, 1)}
    answer = await state.outcomes.submit(
        {
            "webhook_id": webhook_id,
            "lead_id": lead_id,
            "stage": stage,
            "result": data,
            "costs": _costs(result.calls),
        }
    )
    if answer.get("reason") == NO_LEAD:
        return JSONResponse({"status": "ignored", "reason": f"lead {lead_id} no longer exists"})
    return JSONResponse({"status": "applied" if answer["applied"] else "unchanged", **answer})


async def cost_alert(request: Request, webhook_id: str, payload: dict[str, Any]) -> JSONResponse:
    state = request.app.state
    state.metrics.alerts.labels(payload["alert_type"], payload.get("severity", "warning")).inc()
    # time_period is the kind of window (daily, hourly, minute); the window, when sent, is
    # alert_metadata.period_start to period_end.
    metadata = payload["alert_metadata"]
    period = payload["time_period"]
    if "period_start" in metadata and "period_end" in metadata:
        period += f", {metadata['period_start']} to {metadata['period_end']}"
    log.warning(
        "cost alert %s: %s over %s (%s)",
        payload["alert_type"],
        payload["current_value"],
        payload["threshold_value"],
        period,
    )
    url = state.settings.alert_notify_url
    if url:
        text = (
            f":rotating_light: ProspectPro cost alert *{payload['alert_type']}* "
            f"({period}): {payload['current_value']} against a threshold of "
            f"{payload['threshold_value']} (over by {payload['threshold_exceeded_by']})."
        )
        try:
            answer = await state.http.post(url, json={"text": text}, timeout=5.0)
        except Exception as exc:
            return JSONResponse({"error": f"alert notification failed: {type(exc).__name__}"}, 502)
        if answer.status_code >= 300:
            return JSONResponse({"error": f"alert notification got HTTP {answer.status_code}"}, 502)
    return JSONResponse({"status": "acknowledged", "alert_type": payload["alert_type"]})


async def campaign_lifecycle(
    request: Request, webhook_id: str, payload: dict[str, Any]
) -> JSONResponse:
    state = request.app.state
    event = payload["lifecycle_event"]
    campaign_id = payload["campaign_id"]
    state.metrics.lifecycle.labels(event).inc()
    if event == "error":
        reason = payload["event_data"].get("reason")
        log.error("campaign %s error: %s", campaign_id, reason)
    if event == "completed":
        async with state.pool.connection() as conn:
            cur = await conn.execute(EXPORT_SQL, (campaign_id,))
            row = await cur.fetchone()
        if row is None:
            return JSONResponse({"error": f"no export for campaign {campaign_id} yet"}, 409)
        path = export_files.write(state.settings.export_dir, campaign_id, row[0])
        return JSONResponse({"status": "exported", "path": str(path), "rows": row[1]})
    return JSONResponse({"status": "acknowledged", "lifecycle_event": event})


async def export_csv(request: Request) -> Response:
    """GET /api/campaigns/{id}/export.csv: the export written on completion."""
    try:
        check_bearer(request, request.app.state.settings.token)
    except Rejected as rejected:
        return JSONResponse({"error": rejected.reason}, 401, headers={"www-authenticate": "Bearer"})
    campaign_id = request.path_params["campaign_id"]
    path = export_files.path(request.app.state.settings.export_dir, campaign_id)
    if not path.exists():
        return JSONResponse({"error": f"no export for campaign {campaign_id}"}, 404)
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=path.name)


HEALTH_SQL = """
select (select extversion from pg_extension where extname = 'prospectpro'),
       (select count(*) from prospectpro.outbox where status = 'pending' and webhook_type = %(t)s),
       (select count(*) from prospectpro.outbox where status = 'dead' and webhook_type = %(t)s),
       s.configured, s.config_error, s.breaker_state
from prospectpro.endpoint_status as s where s.webhook_type = %(t)s
"""


async def health_checks(state, webhook_type: str) -> dict[str, dict[str, Any]]:
    """The checks behind each /health: database, extension, endpoint, breaker, token, the
    providers' keys (lead enrichment), and the backlog.

    A route is unhealthy when it cannot do its work: the backlog (pending and dead events
    of its type) only informs, so that a load balancer never takes every receiver out of
    rotation because of events the receivers cannot fix.
    """
    checks: dict[str, dict[str, Any]] = {
        "token_configured": {"ok": bool(state.settings.token)},
    }
    if webhook_type == "lead_enrichment":
        missing = sorted(state.providers.missing_keys().values())
        checks["providers_configured"] = {"ok": not missing}
        if missing:
            checks["providers_configured"]["error"] = f"not set: {', '.join(missing)}"
    try:
        async with state.pool.connection(timeout=2.0) as conn:
            row = await (await conn.execute(HEALTH_SQL, {"t": webhook_type})).fetchone()
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        return checks
    version, pending, dead, configured, config_error, breaker = row
    checks["database"] = {"ok": True}
    checks["extension"] = {"ok": version is not None, "version": version}
    checks["endpoint_configured"] = {"ok": configured}
    if config_error:
        checks["endpoint_configured"]["error"] = config_error
    checks["breaker"] = {"ok": breaker == "closed", "state": breaker}
    checks["backlog"] = {"ok": True, "pending": pending, "dead": dead}
    return checks
