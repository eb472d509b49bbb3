"""Standard Webhooks signatures: v1,<base64 HMAC-SHA256 of id.timestamp.body>."""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: whsec_<base64> as Standard Webhooks defines, else its bytes."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :])
    return secret.encode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header value for one message."""
    signed = b"%s.%d.%s" % (webhook_id.encode(), timestamp, body)
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    webhook_id: str, timestamp: int, body: bytes, token: str | None, secret: str | None
) -> dict[str, str]:
    """Every header of one delivery attempt."""
    result = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
    }
    if token:
        result["authorization"] = "Bearer " + token
    if secret:
        result["webhook-signature"] = sign(secret, webhook_id, timestamp, body)
    return result
