"""What every webhook request must pass before its payload is looked at: a
bounded body, the bearer token, and (when a secret is set) a Standard
Webhooks signature within its 5-minute timestamp window."""

from __future__ import annotations

import hmac
import json
import math
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.requests import Request

from .settings import Settings


class Rejected(Exception):
    """A request refused with an HTTP status and a reason (no secrets in it)."""

    def __init__(self, status: int, reason: str, details: list[str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.details = details or []


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused early when its declared or actual size passes ``limit``."""
    declared = request.headers.get("content-length")
    # isdigit() alone admits "²"; a length of more than 18 digits is over any limit.
    if declared is not None and (
        not (declared.isascii() and declared.isdigit())
        or len(declared) > 18
        or int(declared) > limit
    ):
        raise Rejected(413, f"body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Rejected(413, f"body larger than {limit} bytes")
    return bytes(body)


def check_bearer(request: Request, token: str | None) -> None:
    # Two Authorization headers are ambiguous (a proxy may check the other one).
    presented_headers = request.headers.getlist("authorization")
    scheme, _, presented = (presented_headers or [""])[0].partition(" ")
    # compare_digest takes the same time wherever the strings differ.
    if (
        not token
        or len(presented_headers) != 1
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(presented.strip().encode(), token.encode())
    ):
        raise Rejected(401, "missing or invalid bearer token")


def check_signature(request: Request, body: bytes, secret: str | None) -> None:
    if not secret:
        return
    try:
        Webhook(secret).verify(body, dict(request.headers), json_parse=False)
    except WebhookVerificationError as exc:
        raise Rejected(401, f"webhook signature rejected: {exc}") from None
    except ValueError:
        # The library trips over a body that is not UTF-8 and over malformed
        # signatures ("v1" without a comma, bad base64): all plain rejections.
        raise Rejected(401, "webhook signature rejected: malformed body or signature") from None


async def authenticated_json(request: Request, settings: Settings) -> Any:
    """Run every check, in order of cost; returns the parsed JSON body."""
    check_bearer(request, settings.token)
    body = await read_body(request, settings.max_body_bytes)
    check_signature(request, body, settings.signing_secret)
    try:
        payload = json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)
    except ValueError as exc:
        # Also not UTF-8, NaN or Infinity, a float out of range, an integer of
        # more than 4300 digits (Python's limit).
        raise Rejected(400, f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise Rejected(400, f"body is not valid JSON: nested deeper than {MAX_DEPTH}") from None
    if _depth(payload) > MAX_DEPTH:
        raise Rejected(400, f"body is not valid JSON: nested deeper than {MAX_DEPTH}")
    return payload


# The payloads nest 3 levels deep; validating or echoing much deeper values
# would exhaust Python's recursion limit.
MAX_DEPTH = 32


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:  # deeper is refused whatever it holds
                stack.extend((child, level + 1) for child in item)
    return deepest
