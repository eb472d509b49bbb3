"""What every webhook request must pass before its payload is looked at: a
bounded body, the bearer token, and (when a secret is set) a Standard
Webhooks signature within its 5-minute timestamp window."""

from __future__ import annotations

import hmac
import json
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
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise Rejected(413, f"body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Rejected(413, f"body larger than {limit} bytes")
    return bytes(body)


def check_bearer(request: Request, token: str | None) -> None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    # compare_digest takes the same time wherever the strings differ.
    if (
        not token
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(presented.strip().encode(), token.encode())
    ):
        raise Rejected(401, "missing or invalid bearer token")


def check_signature(request: Request, body: bytes, secret: str | None) -> None:
    if not secret:
        return
    try:
        Webhook(secret).verify(body, dict(request.headers))
    except WebhookVerificationError as exc:
        raise Rejected(401, f"webhook signature rejected: {exc}") from None


async def authenticated_json(request: Request, settings: Settings) -> Any:
    """Run every check, in order of cost; returns the parsed JSON body."""
    check_bearer(request, settings.token)
    body = await read_body(request, settings.max_body_bytes)
    check_signature(request, body, settings.signing_secret)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(400, f"body is not valid JSON: {exc}") from None
