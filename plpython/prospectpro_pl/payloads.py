"""The cost_alert and campaign_lifecycle payloads, built from plain values.

(lead_enrichment payloads are built in SQL by prospectpro._lead_payload, on
the capture triggers' hot path.)

Their keys are a public contract: receivers parse them, so keys may be added
but never renamed or removed. Values come straight from the database, so money
may arrive as Decimal, str or float and timestamps as datetime or ISO 8601
text; the builders normalise them to JSON numbers and RFC 3339 UTC strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .contracts import ALERT_TYPES, LIFECYCLE_EVENTS, SEVERITIES

# The time_period of each alert type: the kind of window its rule judges. The
# concrete window is alert_metadata.period_start and period_end.
ALERT_PERIODS = {
    "daily_spend": "daily",
    "cost_per_lead": "daily",  # a campaign over it is reported once a day
    "rate_limit": "minute",  # the unit of the rate rule's window: requests per minute
    "spending_anomaly": "hourly",
}

CENTS = Decimal("0.01")
# Cost per lead is a fraction of a cent for cheap APIs: cents would round it away.
PER_LEAD_PLACES = Decimal("0.0001")

# Sorted keys make the text a function of the payload alone; no NaN or
# Infinity, which are not JSON and which jsonb rejects.
_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=True
).encode


def to_json(payload: Mapping[str, Any]) -> str:
    """Compact, deterministic JSON text of a payload."""
    return _encode(payload)


def timestamp(value: datetime | str | None = None) -> str:
    """RFC 3339 UTC to the second, e.g. 2024-01-01T10:00:00Z; None means now.

    Accepts a datetime or ISO 8601 text (PostgreSQL's ISO DateStyle output and
    to_json(timestamptz) included); a value without an offset is taken as UTC.
    Fractions of a second are truncated.
    """
    if value is None:
        moment = datetime.now(UTC)
    else:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def cost_alert(
    alert_type: str,
    threshold_value: Decimal | str | float,
    current_value: Decimal | str | float,
    *,
    alert_id: int | str,
    severity: str,
    scope: str,
    period_start: datetime | str,
    period_end: datetime | str,
    campaign_ids: Iterable[int] | None = None,
    top_cost_apis: Iterable[str] | None = None,
    triggered_at: datetime | str | None = None,
) -> dict[str, Any]:
    """The cost_alert payload.

    Values are rounded to cents, or to 4 decimals for cost_per_lead;
    threshold_exceeded_by is computed from the exact values before rounding.
    ``scope`` names what the alert is about, e.g. "global" or "campaign:12";
    ``period_start`` and ``period_end`` bound the window the rule judged (the
    UTC day, hour or minute), and time_period names its kind.
    """
    _check(alert_type, ALERT_TYPES, "alert type")
    _check(severity, SEVERITIES, "severity")
    places = PER_LEAD_PLACES if alert_type == "cost_per_lead" else CENTS
    threshold, current = amount(threshold_value), amount(current_value)
    return {
        "alert_id": alert_id,
        "alert_type": alert_type,
        "severity": severity,
        "scope": scope,
        "threshold_value": _rounded(threshold, places),
        "current_value": _rounded(current, places),
        "threshold_exceeded_by": _rounded(current - threshold, places),
        "time_period": ALERT_PERIODS[alert_type],
        "alert_metadata": {
            "campaign_ids": [int(i) for i in campaign_ids or ()],
            "top_cost_apis": list(top_cost_apis or ()),
            "alert_triggered_at": timestamp(triggered_at),
            "period_start": timestamp(period_start),
            "period_end": timestamp(period_end),
        },
    }


def campaign_lifecycle(
    campaign: Mapping[str, Any],
    event: str,
    *,
    total_leads: int,
    qualified_leads: int,
    processing_cost: Decimal | str | float,
    finished_leads: int | None = None,
    old_status: str | None = None,
    new_status: str | None = None,
    **event_data: Any,
) -> dict[str, Any]:
    """The campaign_lifecycle payload.

    ``campaign`` is a prospectpro.campaigns row (id, name, target_count,
    budget_limit, status read); ``new_status`` defaults to its status. Extra
    keyword arguments, such as milestone=50 or reason="...", go into
    event_data. Completion counts ``finished_leads`` (leads through the
    pipeline) when given, else ``total_leads``; a completed campaign is 100 %
    complete whatever its lead count.
    """
    _check(event, LIFECYCLE_EVENTS, "lifecycle event")
    budget = campaign["budget_limit"]
    target = int(campaign["target_count"])
    return {
        "campaign_id": int(campaign["id"]),
        "lifecycle_event": event,
        "campaign_info": {
            "name": campaign["name"],
            "target_count": target,
            "budget_limit": None if budget is None else _rounded(amount(budget), CENTS),
        },
        "processing_status": {
            "total_leads": int(total_leads),
            "qualified_leads": int(qualified_leads),
            "processing_cost": _rounded(amount(processing_cost), CENTS),
            "completion_percentage": (
                100
                if event == "completed"
                else completion_percentage(
                    total_leads if finished_leads is None else finished_leads, target
                )
            ),
        },
        "event_data": {
            "old_status": old_status,
            "new_status": campaign["status"] if new_status is None else new_status,
            **event_data,
        },
    }


def completion_percentage(total_leads: int, target_count: int) -> int:
    """Whole percent of the target reached, rounded down and capped at 100.

    Rounding down means a milestone is reported only once it is really reached.
    """
    if target_count <= 0:
        raise ValueError(f"target_count must be positive, got {target_count}")
    return min(100, int(total_leads) * 100 // int(target_count))


def amount(value: Decimal | str | float) -> Decimal:
    """The exact Decimal of a number from the database: Decimal, int, float or numeric text.

    Through str, a float keeps its shortest form: 65.5, not its binary expansion.
    """
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise ValueError(f"amount must be a finite number, got {value!r}")
    return number


def _rounded(value: Decimal, places: Decimal) -> float:
    return float(value.quantize(places, ROUND_HALF_UP))


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}: expected one of {', '.join(allowed)}")
