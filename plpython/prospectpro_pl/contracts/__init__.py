"""The payload contracts: one JSON Schema (2020-12) per webhook type, beside
this module, and the enums read from them.

These files are the one source of each payload's shape and of its enums. The
server's Python reads them here (PL/Python, standard library only); the
receiver's distribution ships this package as ``prospectpro.contracts`` and
validates requests with the same files (receiver/prospectpro/schemas.py).
The SQL check constraints that hold the same values are compared with them by
tests/python/test_contracts.py, through pg_constraint.

Payload keys may be added, never renamed or removed: receivers parse them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_HERE = Path(__file__).parent

# Webhook type -> its payload's JSON Schema; one file each, named for the type.
SCHEMAS: dict[str, dict[str, Any]] = {
    path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(_HERE.glob("*.json"))
}
WEBHOOK_TYPES = tuple(SCHEMAS)


def enum(webhook_type: str, *path: str) -> tuple[Any, ...]:
    """The allowed values of a payload key, e.g. enum("cost_alert", "severity")."""
    schema = SCHEMAS[webhook_type]
    for key in path:
        schema = schema["properties"][key]
    return tuple(schema["enum"])


# In pipeline order, then the two ends: completed, or failed at any stage.
LEAD_STAGES = enum("lead_enrichment", "enrichment_stage")
# The stages whose outcome apply_enrichment takes: stage1 .. stage4.
WORK_STAGES = tuple(s for s in LEAD_STAGES if s not in ("completed", "failed"))
LEAD_EVENTS = enum("lead_enrichment", "webhook_metadata", "event")
ALERT_TYPES = enum("cost_alert", "alert_type")
SEVERITIES = enum("cost_alert", "severity")
TIME_PERIODS = enum("cost_alert", "time_period")
LIFECYCLE_EVENTS = enum("campaign_lifecycle", "lifecycle_event")
