"""JSON Schemas of the three webhook payloads: the seed's keys are required,
extra keys are allowed. The same schemas validate requests and describe the
receiver in its OpenAPI document."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, validators

_timestamp = {"type": "string", "minLength": 1, "maxLength": 64}
_id = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_money = {"type": "number", "minimum": 0}

LEAD_ENRICHMENT: dict[str, Any] = {
    "type": "object",
    "required": ["lead_id", "webhook_type", "enrichment_stage", "lead_data", "webhook_metadata"],
    "properties": {
        "lead_id": _id,
        "campaign_id": _id,
        "webhook_type": {"const": "lead_enrichment"},
        "enrichment_stage": {
            "enum": ["stage1", "stage2", "stage3", "stage4", "completed", "failed"]
        },
        "lead_data": {
            "type": "object",
            "required": ["business_name", "confidence_score", "is_qualified"],
            "properties": {
                "business_name": {"type": "string", "minLength": 1, "maxLength": 300},
                "confidence_score": {"type": "integer", "minimum": 0, "maximum": 100},
                "is_qualified": {"type": "boolean"},
            },
        },
        "webhook_metadata": {
            "type": "object",
            "required": ["trigger_time", "trigger_source"],
            "properties": {"trigger_time": _timestamp, "trigger_source": {"type": "string"}},
        },
    },
}

COST_ALERT: dict[str, Any] = {
    "type": "object",
    "required": [
        "alert_type",
        "threshold_value",
        "current_value",
        "threshold_exceeded_by",
        "time_period",
        "alert_metadata",
    ],
    "properties": {
        "alert_type": {"enum": ["daily_spend", "cost_per_lead", "rate_limit", "spending_anomaly"]},
        # Optional (not the seed's), but a metric label: only the known values.
        "severity": {"enum": ["warning", "critical"]},
        "threshold_value": _money,
        "current_value": _money,
        "threshold_exceeded_by": {"type": "number"},
        "time_period": {"type": "string", "minLength": 1, "maxLength": 32},
        "alert_metadata": {
            "type": "object",
            "required": ["campaign_ids", "top_cost_apis", "alert_triggered_at"],
            "properties": {
                "campaign_ids": {"type": "array", "items": _id, "maxItems": 1000},
                "top_cost_apis": {"type": "array", "items": {"type": "string"}, "maxItems": 100},
                "alert_triggered_at": _timestamp,
            },
        },
    },
}

CAMPAIGN_LIFECYCLE: dict[str, Any] = {
    "type": "object",
    "required": [
        "campaign_id",
        "lifecycle_event",
        "campaign_info",
        "processing_status",
        "event_data",
    ],
    "properties": {
        "campaign_id": _id,
        "lifecycle_event": {
            "enum": [
                "created",
                "processing_started",
                "progress_update",
                "completed",
                "error",
                "cancelled",
                "paused",
                "resumed",
            ]
        },
        "campaign_info": {
            "type": "object",
            "required": ["name", "target_count", "budget_limit"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "target_count": {"type": "integer", "minimum": 1},
                "budget_limit": {"anyOf": [_money, {"type": "null"}]},
            },
        },
        "processing_status": {
            "type": "object",
            "required": [
                "total_leads",
                "qualified_leads",
                "processing_cost",
                "completion_percentage",
            ],
            "properties": {
                "total_leads": {"type": "integer", "minimum": 0},
                "qualified_leads": {"type": "integer", "minimum": 0},
                "processing_cost": _money,
                "completion_percentage": {"type": "number", "minimum": 0, "maximum": 100},
            },
        },
        "event_data": {
            "type": "object",
            "required": ["old_status", "new_status"],
            "properties": {
                "old_status": {"type": ["string", "null"]},
                "new_status": {"type": "string"},
            },
        },
    },
}

SCHEMAS = {
    "lead_enrichment": LEAD_ENRICHMENT,
    "cost_alert": COST_ALERT,
    "campaign_lifecycle": CAMPAIGN_LIFECYCLE,
}


# JSON Schema counts 1.0 as an integer; the receiver hands ids to PostgreSQL,
# where a float is no bigint (apply_enrichment(..., 1.0, ...) does not exist),
# so an integer here is a JSON number written without fraction or exponent.
def _is_integer(checker, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)
_validators = {name: _Validator(schema) for name, schema in SCHEMAS.items()}


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def problems(webhook_type: str, payload: Any) -> list[str]:
    """Why a payload is invalid, one line per problem (empty when valid). Each
    line is clipped: a message quotes the offending value, which may be long."""
    return [
        _clip(f"{'/'.join(map(str, error.absolute_path)) or 'payload'}: {error.message}")
        for error in sorted(_validators[webhook_type].iter_errors(payload), key=str)
    ][:10]
