"""Hunter.io API v2: Domain Search (stage 2b, contact discovery) and Email Verifier (stage 3).

Hunter charges credits only for answers: a Domain Search uses one credit for every 1 to 10
emails it returns and none when it finds none; a verification uses half a credit, none when
Hunter cannot verify the address (status "unknown").  Any HTTP status but 200 (401 bad key,
429 over the rate or plan limit, 5xx) is a ProviderError explained by Hunter's
``{"errors": [{"id", "code", "details"}]}``.
"""

from __future__ import annotations

import ipaddress
import math
from urllib.parse import urlsplit

import httpx

from .calls import StageRun
from .contacts import social_network

DOMAIN_SEARCH = "hunter_domain_search"
EMAIL_VERIFIER = "hunter_email_verifier"
PATHS = {
    DOMAIN_SEARCH: "/v2/domain-search",
    EMAIL_VERIFIER: "/v2/email-verifier",
}
SEARCH_LIMIT = 10  # one credit's worth of emails
EMAIL_FIELDS = ("value", "type", "confidence", "first_name", "last_name", "position")
VERIFICATION_FIELDS = (
    "email", "status", "result", "score", "regexp", "gibberish", "disposable", "webmail",
    "mx_records", "smtp_check", "accept_all", "block",
)  # fmt: skip


async def domain_search(run: StageRun, *, domain: str | None, company: str) -> dict:
    """The emails Hunter knows at ``domain``, or at the domain it finds for ``company`` when
    there is no domain to search."""
    params = {"domain": domain} if domain else {"company": company}
    data = await _get(run, DOMAIN_SEARCH, limit=SEARCH_LIMIT, **params)
    emails = [
        {**{key: found.get(key) for key in EMAIL_FIELDS}, "value": found["value"].lower()}
        for found in data.get("emails") or []
        if found.get("value")
    ]
    run.bill(DOMAIN_SEARCH, units=math.ceil(len(emails) / SEARCH_LIMIT))
    return {
        "domain": data.get("domain"),
        "organization": data.get("organization"),
        "pattern": data.get("pattern"),
        "emails": emails,
    }


def searchable_domain(url: str | None) -> str | None:
    """The domain of a website, or None when there is none Hunter could search: no site, a
    site on an IP address or localhost, or a page on a social network."""
    try:
        host = urlsplit(url).hostname if url else None
    except ValueError:
        return None
    if not host or "." not in host or social_network(host):
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host.removeprefix("www.")
    return None


async def verify_email(run: StageRun, email: str) -> dict:
    """Hunter's verdict on an address: status is valid, invalid, accept_all, webmail,
    disposable or unknown."""
    data = await _get(run, EMAIL_VERIFIER, email=email)
    run.bill(EMAIL_VERIFIER, units=0 if data.get("status") == "unknown" else 1)
    return {key: data.get(key) for key in VERIFICATION_FIELDS}


async def _get(run: StageRun, api_name: str, **params: object) -> dict:
    config = run.config
    params["api_key"] = config.hunter_api_key
    url = config.hunter_base_url + PATHS[api_name]
    body = await run.get_json(api_name, url, params, error_reason=_error_reason)
    return body.get("data") or {}


def _error_reason(response: httpx.Response) -> str:
    try:
        error = response.json()["errors"][0]
        return f"{error['id']}: {error['details']}"
    except (ValueError, LookupError, TypeError):
        return response.reason_phrase or "error"
