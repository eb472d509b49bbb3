"""Endpoint URLs: checked where they enter, and turned into what a request needs.

configure_endpoint refuses a URL that ``problem`` finds fault with, the
app.<type>_webhook_url fallback is checked when read, and the transport
parses each URL with ``parse``: a URL that got past none of these (a 1.0
endpoint row) fails its own requests, never a round.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlsplit

# A host name once IDNA-encoded: letters, digits, hyphens, underscores, dots.
_HOSTNAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
# Kept as written in a path or query; anything else (non-ASCII) is percent-encoded.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~?"
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


class InvalidURL(ValueError):
    """A URL no request can be sent to; the message says why, without the URL's secrets."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # what to connect to and name in TLS: IDNA-encoded, IPv6 without brackets
    port: int
    authority: str  # the Host header
    path: str  # the request target: path and query, ASCII


def problem(url: str) -> str | None:
    """Why ``url`` cannot be an endpoint, or None when it can."""
    try:
        parse(url)
    except InvalidURL as exc:
        return str(exc)
    return None


@lru_cache(maxsize=256)
def parse(url: str) -> Target:
    if _CONTROL_OR_SPACE.search(url):
        raise InvalidURL("the URL contains a space or a control character")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed "[": urlsplit's message is the reason
        raise InvalidURL(f"malformed URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidURL(f"scheme {parts.scheme or '(none)'!r} is not http or https")
    if "@" in parts.netloc:
        raise InvalidURL("the URL carries userinfo (user:password@): pass secrets as token")
    if parts.fragment or url.endswith("#"):
        raise InvalidURL("the URL has a #fragment, which is never sent")
    host = _host(parts.netloc)
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise InvalidURL("the port is not a number from 1 to 65535")
    authority = f"[{host}]" if ":" in host else host
    if port is not None:
        authority += f":{port}"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_PATH_SAFE)
    default_port = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, host, port or default_port, authority, path)


def _host(netloc: str) -> str:
    """The host of an authority, as sent: IDNA for names, checked IPv6 in brackets."""
    if netloc.startswith("["):
        literal, bracket, rest = netloc[1:].partition("]")
        try:
            if not bracket or rest[:1] not in ("", ":"):
                raise ValueError
            return str(ipaddress.IPv6Address(literal))
        except ValueError:
            raise InvalidURL(f"{literal!r} in brackets is not an IPv6 address") from None
    name = netloc.rpartition(":")[0] if ":" in netloc else netloc
    if not name:
        raise InvalidURL("the URL has no host")
    if "[" in name or "]" in name or ":" in name:
        raise InvalidURL("an IPv6 address must be written in brackets: http://[::1]:8080/")
    try:
        encoded = name.lower().encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidURL(f"host {name!r} is not a valid (IDNA) host name") from None
    if not _HOSTNAME.fullmatch(encoded):
        raise InvalidURL(f"host {name!r} is not a valid host name")
    return encoded
