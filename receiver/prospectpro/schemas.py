"""Validation of the three webhook payloads against their JSON Schemas: the keys
of the ProspectPro webhook contract (payload keys that are never renamed or
removed) are required, extra keys are allowed. The schemas are the
extension's own (prospectpro.contracts, shipped from
plpython/prospectpro_pl/contracts); the same ones describe the receiver in its
OpenAPI document."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, validators

from .contracts import SCHEMAS


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
