"""The operator's cost functions: thresholds, rate limits, the anomaly detector, and
moving alerts to acknowledged or resolved. A bad argument raises with a HINT
(SQLSTATE 22023) and changes nothing.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from .. import anomaly, plans
from .rules import DEFAULTS, Thresholds
from .sql import (
    CAMPAIGN_EXISTS_SQL,
    LOCK_ALERT_SQL,
    REMOVE_THRESHOLD_SQL,
    SAVE_SETTING_SQL,
    SAVE_THRESHOLD_SQL,
    THRESHOLDS_SQL,
    TRANSITION_SQL,
)
from .triggers import read_settings

MAX_HISTORY_WINDOWS = 24 * 31
MAX_VALUE = Decimal(10) ** 12
API_NAME = re.compile(r"^[a-z0-9_.-]{1,64}$")
# The statuses an alert may reach each status from.
TRANSITIONS = {"acknowledged": ("open",), "resolved": ("open", "acknowledged")}

THRESHOLD_HINT = (
    "alert_type is daily_spend (USD per UTC day), cost_per_lead (USD per lead), "
    "rate_limit (requests per minute, whole) or spending_anomaly (factor over the usual "
    "hourly spend); value is positive, or null to remove the override."
)


def _bad_argument(plpy, message: str, hint: str) -> None:
    plpy.error(message, hint=hint, sqlstate="22023")


def set_threshold(
    plpy,
    alert_type: str | None,
    value: Decimal | None,
    campaign_id: int | None = None,
    api_name: str | None = None,
) -> Decimal | None:
    """Save (or, with value None, remove) a threshold; returns the value then in force."""
    if alert_type not in DEFAULTS:
        _bad_argument(plpy, f"unknown cost alert type {alert_type!r}", THRESHOLD_HINT)
    if alert_type == "rate_limit" and campaign_id is not None:
        _bad_argument(
            plpy,
            "rate limits are per API, not per campaign",
            "Use prospectpro.set_api_rate_limit(api_name, requests_per_minute), or leave "
            "campaign_id null to set the limit of every API without its own.",
        )
    if value is not None and not (value.is_finite() and 0 < value < MAX_VALUE):
        _bad_argument(plpy, f"invalid {alert_type} threshold {value}", THRESHOLD_HINT)
    if alert_type == "rate_limit" and value is not None and value != value.to_integral_value():
        _bad_argument(plpy, f"a rate limit counts whole requests, got {value}", THRESHOLD_HINT)
    if campaign_id is not None and not plans.run(
        plpy, CAMPAIGN_EXISTS_SQL, ["bigint"], [campaign_id]
    ):
        _bad_argument(
            plpy,
            f"campaign {campaign_id} does not exist",
            "See prospectpro.campaigns for the ids; null campaign_id sets the global threshold.",
        )
    key = [alert_type, campaign_id, api_name]
    if value is None:
        plans.run(plpy, REMOVE_THRESHOLD_SQL, ["text", "bigint", "text"], key)
    else:
        plans.run(plpy, SAVE_THRESHOLD_SQL, ["text", "bigint", "text", "numeric"], [*key, value])
    in_force = Thresholds(plans.run(plpy, THRESHOLDS_SQL, ["bigint[]"], [[campaign_id]]))
    return in_force.value(alert_type, campaign_id, api_name)


def set_rate_limit(plpy, api_name: str | None, requests_per_minute: int | None) -> int:
    """Save (or, with None, remove) one API's rate limit; returns the limit then in force."""
    if api_name is None or not API_NAME.match(api_name):
        _bad_argument(
            plpy,
            f"invalid api_name {api_name!r}",
            "Use the api_name of prospectpro.api_costs, e.g. hunter_email_verifier "
            "(1-64 of a-z, 0-9, _ . -).",
        )
    value = None if requests_per_minute is None else Decimal(requests_per_minute)
    return int(set_threshold(plpy, "rate_limit", value, api_name=api_name))


def configure_anomaly(plpy, detector: str | None, history_windows: int | None) -> str:
    """Choose the anomaly detector and how many earlier hours it reads; returns both as JSON."""
    if detector is not None and detector not in anomaly.DETECTORS:
        _bad_argument(
            plpy,
            f"unknown anomaly detector {detector!r}",
            f"Use {' or '.join(anomaly.DETECTORS)}.",
        )
    if history_windows is not None and not (
        anomaly.DEFAULT_MIN_HISTORY <= history_windows <= MAX_HISTORY_WINDOWS
    ):
        _bad_argument(
            plpy,
            f"history_windows must be {anomaly.DEFAULT_MIN_HISTORY} to {MAX_HISTORY_WINDOWS}, "
            f"got {history_windows}",
            "It is the number of earlier hours with costs that the current hour is compared with.",
        )
    for name, value in (
        ("anomaly.detector", detector),
        ("anomaly.history_windows", history_windows),
    ):
        if value is not None:
            plans.run(plpy, SAVE_SETTING_SQL, ["text", "text"], [name, json.dumps(value)])
    detector_now, windows_now = read_settings(plpy)
    return json.dumps({"detector": detector_now, "history_windows": windows_now})


def transition(plpy, alert_id: int | None, status: str, note: str | None) -> None:
    """Move an alert to acknowledged or resolved, if its current status allows it."""
    found = plans.run(plpy, LOCK_ALERT_SQL, ["bigint"], [alert_id])
    if not found:
        plpy.error(
            f"cost alert {alert_id} does not exist",
            hint="See prospectpro.cost_alert_history for the ids.",
            sqlstate="P0002",
        )
    current = found[0]["status"]
    if current not in TRANSITIONS[status]:
        plpy.error(
            f"cost alert {alert_id} is {current}: it cannot become {status}",
            hint="An open alert may be acknowledged or resolved, an acknowledged one resolved; "
            "resolved is final.",
            sqlstate="55000",
        )
    plans.run(plpy, TRANSITION_SQL[status], ["bigint", "text"], [alert_id, note])
