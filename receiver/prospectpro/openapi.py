"""The receiver's OpenAPI 3.1 description, served at GET /openapi.json.

Built from the same JSON Schemas that validate the webhook payloads
(schemas.SCHEMAS), so the document cannot drift from what is enforced.
OpenAPI 3.1 schemas are JSON Schema 2020-12: they are used as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from . import schemas

# The payload schemas' names in components/schemas: lead_enrichment's is
# LeadEnrichmentPayload.
COMPONENT_NAMES = {
    t: "".join(word.capitalize() for word in t.split("_")) + "Payload" for t in schemas.SCHEMAS
}
# The largest campaign id the export route accepts (a PostgreSQL bigint).
MAX_ID = 2**63 - 1

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "details": {"type": "array", "items": {"type": "string"}},
    },
}
_HEALTH = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"enum": ["healthy", "unhealthy"]},
        "checks": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["ok"],
                "properties": {"ok": {"type": "boolean"}},
            },
        },
    },
}
_ANSWER = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string"}},
}


def _json(description: str, ref: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _error(description: str) -> dict[str, Any]:
    return _json(description, "Error")


def _unauthorized() -> dict[str, Any]:
    answer = _error("Missing or wrong bearer token, or a bad Standard Webhooks signature")
    answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}}}
    return answer


def _signature_headers(webhook_type: str) -> list[dict[str, Any]]:
    lead = webhook_type == "lead_enrichment"
    return [
        {
            "name": "webhook-id",
            "in": "header",
            "required": lead,
            "description": "The event's id (its outbox webhook_id, a UUID); "
            + ("required: apply_enrichment is idempotent per id." if lead else "optional."),
            "schema": {"type": "string", "format": "uuid"} if lead else {"type": "string"},
        },
        {
            "name": "webhook-timestamp",
            "in": "header",
            "required": False,
            "description": "Standard Webhooks: Unix seconds; required when a signing secret "
            "is set, and then within 5 minutes of the receiver's clock.",
            "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
        },
        {
            "name": "webhook-signature",
            "in": "header",
            "required": False,
            "description": "Standard Webhooks: space-separated v1,<base64 HMAC-SHA256>; "
            "required when a signing secret is set.",
            "schema": {"type": "string"},
        },
    ]


def _webhook(webhook_type: str) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": _json("Handled (applied, unchanged, duplicate, stale, ignored, ...)", "Answer"),
        "400": _error("Body is not valid JSON, or (lead_enrichment) webhook-id is not a UUID"),
        "401": _unauthorized(),
        "413": _error("Body larger than WEBHOOK_MAX_BODY_BYTES (refused before reading it)"),
        "422": _error("Payload does not match the schema; details lists the problems"),
        "502": _error("An external call the webhook needs failed; the sender retries"),
    }
    if webhook_type == "campaign_lifecycle":
        responses["409"] = _error("completed, but the campaign's export is not there yet")
    return {
        "operationId": f"receive_{webhook_type}",
        "summary": f"Receive a {webhook_type} webhook",
        "security": [{"bearerAuth": []}],
        "parameters": _signature_headers(webhook_type),
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{COMPONENT_NAMES[webhook_type]}"}
                }
            },
        },
        "responses": responses,
    }


def _health(webhook_type: str) -> dict[str, Any]:
    return {
        "operationId": f"health_{webhook_type}",
        "summary": f"Health of the {webhook_type} route: database, extension, token, backlog",
        "description": "503 when the route cannot do its work: database, extension, endpoint,"
        " breaker, token (and for lead enrichment the provider keys, providers_configured)."
        " The backlog check (pending and dead events of the type) only informs.",
        "security": [],
        "responses": {
            "200": _json("Every check passed", "Health"),
            "503": _json("A check failed", "Health"),
        },
    }


def _version() -> str:
    try:
        return metadata.version("prospectpro")
    except metadata.PackageNotFoundError:
        return "0"


def document(routes: Mapping[str, str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the receiver whose webhook routes are ``routes``
    (webhook type -> path); a fresh copy on each call."""
    paths: dict[str, Any] = {}
    for webhook_type, path in routes.items():
        paths[path] = {"post": _webhook(webhook_type)}
        paths[path + "/health"] = {"get": _health(webhook_type)}
    paths["/metrics"] = {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics: the receiver's own and the database's figures",
            "security": [],
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    paths["/api/campaigns/{campaign_id}/export.csv"] = {
        "get": {
            "operationId": "export_csv",
            "summary": "The CSV export written when the campaign completed",
            "security": [{"bearerAuth": []}],
            "parameters": [
                {
                    "name": "campaign_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                }
            ],
            "responses": {
                "200": {
                    "description": "The export",
                    "content": {"text/csv": {"schema": {"type": "string"}}},
                },
                "401": _unauthorized(),
                "404": _error("No export for this campaign (yet)"),
            },
        }
    }
    components: dict[str, Any] = {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "WEBHOOK_AUTH_TOKEN (or PERSONAL_ACCESS_TOKEN), compared in "
                "constant time.",
            }
        },
        "schemas": {
            "Error": _ERROR,
            "Answer": _ANSWER,
            "Health": _HEALTH,
            **{COMPONENT_NAMES[t]: schema for t, schema in schemas.SCHEMAS.items()},
        },
    }
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "ProspectPro receiver",
                "version": _version(),
                "description": "Answers ProspectPro's webhooks (lead enrichment, cost alerts, "
                "campaign lifecycle) and serves health, metrics and campaign exports. Bodies "
                "are strict JSON: no NaN or Infinity, at most 32 levels deep, and an integer "
                "is written without fraction or exponent (1, not 1.0).",
            },
            "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
            "paths": paths,
            "components": components,
        }
    )
