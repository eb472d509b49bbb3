"""Local stand-ins for the enrichment providers, on 127.0.0.1, for tests and the demo.

One ASGI app answers in the providers' real shapes:

    GET /maps/api/place/textsearch/json   Google Places (Legacy) Text Search   key=
    GET /maps/api/place/details/json      Google Places (Legacy) Place Details key=
    GET /v2/domain-search                 Hunter.io Domain Search              api_key=
    GET /v2/email-verifier                Hunter.io Email Verifier             api_key=
    GET /sites/<slug>/                    the businesses' websites (HTML)
    GET /sites/<slug>/moved/<n>           a site that redirects n times first
    GET /redirect?to=<url>                a site that redirects anywhere (302 to url)

Its world is deterministic: each business name (by its slug) and each email address
seeds its own random generator, so the same lead always gets the same answers, and 100
leads get a realistic mix: about 20 % of businesses are not listed, some sites are down or
publish no email, some addresses are undeliverable.  Website URLs point back at the
stand-in, so no request leaves the machine.

Run-time control, for tests that need a provider to misbehave:

    POST   /__standin/faults  {"path": "/v2/email-verifier", "status": 500, "times": 2,
                               "delay": 0.5, "json": {...}}
           The next ``times`` requests to ``path`` (default 1; null: until cleared) wait
           ``delay`` seconds, then get ``status`` (null: the normal answer after the delay)
           with ``json`` as the body, or the provider's own error shape.
    GET    /__standin/faults  the faults pending;  DELETE clears them
    GET    /__standin/stats   {"requests": {path: count}};  DELETE resets the counts

In-process: ``with running_standins() as base_url: ...``.  As a server:
``python -m prospectpro_dev.standins --port 8700`` prints its base URL, then serves.
``provider_env(base_url)`` is the receiver's environment for them, with
PROVIDER_ALLOW_NETWORKS admitting 127.0.0.0/8: the receiver fetches no website
on loopback otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import os
import random
import re
import socket
import threading
import unicodedata
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from html import escape
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .processes import wait_until

STANDIN_PLACES_KEY = "standin-places-key"
STANDIN_HUNTER_KEY = "standin-hunter-key"
STANDIN_NETWORK = "127.0.0.0/8"  # where the stand-ins serve their websites
CONTROL_PREFIX = "/__standin/"

# -- the world ---------------------------------------------------------------------------

AREA_CODES = (206, 212, 303, 312, 404, 415, 503, 512, 617, 702)
STREETS = ("Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Market St", "Park Ave", "Elm St")
CITIES = (
    ("Springfield", "IL", "62701"),
    ("Riverton", "WY", "82501"),
    ("Fairview", "OR", "97024"),
    ("Greenville", "SC", "29601"),
    ("Madison", "WI", "53703"),
)
FIRST_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Iris", "Jon")
LAST_NAMES = ("Alvarez", "Brooks", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Haddad")
POSITIONS = ("Owner", "General Manager", "Office Manager", "Marketing Director", "Founder")
GENERIC_LOCALS = ("info", "hello", "contact", "office", "team")
OTHER_NAMES = ("Riverside Dental Care", "Summit Auto Repair", "Blue Door Bakery")
SOCIAL_PROFILES = {
    "facebook": "https://www.facebook.com/{slug}",
    "instagram": "https://instagram.com/{slug}/",
    "linkedin": "https://www.linkedin.com/company/{slug}",
    "twitter": "https://x.com/{slug}",
    "yelp": "https://www.yelp.com/biz/{slug}-springfield",
}
WEBMAIL_DOMAINS = {"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com"}
DISPOSABLE_DOMAINS = {"mailinator.com", "guerrillamail.com", "10minutemail.com"}
STATUSES = ("OPERATIONAL", "CLOSED_TEMPORARILY", "CLOSED_PERMANENTLY")
# A business has no website, or one that fails with HTTP 503, publishes no email, publishes
# it obfuscated, or publishes it plainly.
SITE_KINDS = (None, "down", "no_email", "obfuscated", "plain")
VERDICTS = ("valid", "accept_all", "invalid", "unknown")


@dataclass(frozen=True)
class Contact:
    local: str  # the part before the @: the domain is whichever is searched
    type: str  # "generic" or "personal"
    confidence: int
    first_name: str | None = None
    last_name: str | None = None
    position: str | None = None


@dataclass(frozen=True)
class Business:
    slug: str
    listed: bool  # Google Places knows it
    other_name: str | None  # Google's best match is another business of this name
    status: str
    phone: str  # national format, "(212) 555-0147"
    street_address: str
    rating: float
    ratings_total: int
    location: tuple[float, float]
    site: str | None  # how its website behaves, one of SITE_KINDS
    site_locals: tuple[str, ...]  # addresses the site publishes, before the @
    contacts: tuple[Contact, ...]  # what Hunter knows

    @property
    def domain(self) -> str:
        return f"{self.slug}.example"

    @property
    def title(self) -> str:
        return self.slug.replace("-", " ").title()


def slugify(name: str) -> str:
    """A business name as a URL path segment and domain label: "Joe's Café" is "joes-cafe"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_name.lower().replace("'", "").replace("&", " and "))
    return "-".join(words)[:60].strip("-") or "business"


def business(slug: str) -> Business:
    """The world's business of that slug: the same slug always yields the same business."""
    rng = random.Random(f"business:{slug}")
    listed = rng.random() >= 0.20
    renamed = listed and rng.random() < 0.05
    status = rng.choices(STATUSES, weights=(92, 4, 4))[0]
    city, state, zip_code = rng.choice(CITIES)
    site = rng.choices(SITE_KINDS, weights=(12, 10, 16, 20, 42))[0]
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    generic = rng.choice(GENERIC_LOCALS)
    site_locals = () if site in (None, "down", "no_email") else (generic,)
    if site_locals and rng.random() < 0.4:
        site_locals += (first.lower(),)
    contacts: tuple[Contact, ...] = ()
    if rng.random() >= 0.25:
        contacts = (
            Contact(generic, "generic", rng.randint(60, 99)),
            Contact(
                f"{first}.{last}".lower(),
                "personal",
                rng.randint(40, 99),
                first,
                last,
                rng.choice(POSITIONS),
            ),
        )[: rng.randint(1, 2)]
    return Business(
        slug=slug,
        listed=listed,
        other_name=rng.choice(OTHER_NAMES) if renamed else None,
        status=status,
        phone=f"({rng.choice(AREA_CODES)}) 555-01{rng.randrange(100):02d}",
        street_address=f"{rng.randint(10, 9999)} {rng.choice(STREETS)}, {city}, {state} {zip_code}",
        rating=round(rng.uniform(2.8, 5.0), 1),
        ratings_total=rng.randint(0, 900),
        location=(round(rng.uniform(30, 47), 6), round(rng.uniform(-122, -75), 6)),
        site=site,
        site_locals=site_locals,
        contacts=contacts,
    )


def verification(email: str) -> dict[str, Any]:
    """The Email Verifier's verdict on an address, the same every time."""
    email = email.strip().lower()
    rng = random.Random(f"verify:{email}")
    domain = email.rpartition("@")[2]
    regexp = re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", email) is not None
    if not regexp:
        status = "invalid"
    elif domain in DISPOSABLE_DOMAINS:
        status = "disposable"
    elif domain in WEBMAIL_DOMAINS:
        status = "webmail"
    else:
        status = rng.choices(VERDICTS, weights=(70, 12, 10, 8))[0]
    result = {
        "valid": "deliverable",
        "webmail": "deliverable",
        "invalid": "undeliverable",
    }.get(status, "risky")
    score = {"valid": (85, 100), "webmail": (70, 95), "accept_all": (50, 75)}.get(status, (0, 40))
    reachable = status not in ("invalid", "unknown")
    return {
        "status": status,
        "result": result,
        "_deprecation_notice": "Using result is deprecated, use status instead",
        "score": rng.randint(*score),
        "email": email,
        "regexp": regexp,
        "gibberish": False,
        "disposable": status == "disposable",
        "webmail": status == "webmail",
        "mx_records": regexp and status != "invalid",
        "smtp_server": reachable,
        "smtp_check": reachable and status != "accept_all",
        "accept_all": status == "accept_all",
        "block": False,
        "sources": [],
    }


# -- Google Places ---------------------------------------------------------------------

SEARCH_FIELDS = (
    "place_id", "name", "formatted_address", "business_status", "geometry", "rating",
    "user_ratings_total", "types",
)  # fmt: skip


def _place(query: str, base_url: str) -> dict[str, Any] | None:
    """Everything Places knows for a "name, address" query, or None when it knows nothing."""
    name, _, address = (part.strip() for part in query.partition(","))
    found = business(slugify(name))
    if not found.listed:
        return None
    place = {
        "place_id": "ChIJ" + base64.urlsafe_b64encode(query.encode()).decode().rstrip("="),
        "name": found.other_name or name,
        "formatted_address": address or f"{found.street_address}, USA",
        "business_status": found.status,
        "geometry": {"location": {"lat": found.location[0], "lng": found.location[1]}},
        "rating": found.rating,
        "user_ratings_total": found.ratings_total,
        "types": ["point_of_interest", "establishment"],
        "formatted_phone_number": found.phone,
        "international_phone_number": "+1 " + re.sub(r"\((\d+)\) ", r"\1-", found.phone),
        "url": f"https://maps.google.com/?cid={random.Random(query).getrandbits(63)}",
    }
    if found.site:
        place["website"] = f"{base_url}/sites/{found.slug}/"
    return place


def _places_answer(status: str, **body: Any) -> JSONResponse:
    return JSONResponse({"html_attributions": [], **body, "status": status})


# -- Hunter ------------------------------------------------------------------------------


def _hunter_error(status: int, error_id: str, details: str) -> JSONResponse:
    return JSONResponse({"errors": [{"id": error_id, "code": status, "details": details}]}, status)


HUNTER_ERRORS = {
    400: ("wrong_params", "The request is missing a required parameter."),
    401: ("authentication_failed", "No user found for the API key supplied"),
    429: ("too_many_requests", "You have reached the rate limit for your account."),
}


def _hunter_email(contact: Contact, domain: str, site_url: str) -> dict[str, Any]:
    return {
        "value": f"{contact.local}@{domain}",
        "type": contact.type,
        "confidence": contact.confidence,
        "sources": [
            {
                "domain": domain,
                "uri": site_url,
                "extracted_on": "2024-03-02",
                "last_seen_on": "2025-01-15",
                "still_on_page": True,
            }
        ],
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "position": contact.position,
        "seniority": "executive" if contact.position else None,
        "department": "management" if contact.position else None,
        "linkedin": None,
        "twitter": None,
        "phone_number": None,
        "verification": {"date": None, "status": None},
    }


# -- websites ----------------------------------------------------------------------------


def _site_page(found: Business) -> str:
    """A small business's home page, with the decoys real pages carry: an address in a
    script, one in a comment, an image named like an address, share buttons."""
    rng = random.Random(f"site:{found.slug}")
    name = found.title
    digits = re.sub(r"\D", "", found.phone)
    emails = [f"{local}@{found.domain}" for local in found.site_locals]
    networks = rng.sample(sorted(SOCIAL_PROFILES), rng.randint(1, 4))
    social = "\n".join(
        f'<li><a href="{SOCIAL_PROFILES[n].format(slug=found.slug)}">{n.title()}</a></li>'
        for n in networks
    )
    page_url = f"https://{found.domain}/"
    shown = "\n".join(_show_email(email, found.site, rng) for email in emails)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(name)}</title>
<style>.footer::after {{ content: "styles@{found.domain}"; }}</style>
<script>var support = "tracking@analytics.example"; window.dataLayer = [];</script>
</head><body>
<header><img src="/img/logo@2x.png" alt="{escape(name)}"><h1>{escape(name)}</h1></header>
<!-- old contact: former-owner@{found.domain} -->
<main><p>Family owned since {rng.randint(1950, 2020)}. Logo: logo@2x.png</p>
<section class="contact"><h2>Contact</h2>
<p>Call <a href="{rng.choice(("tel", "TEL"))}:+1-{digits[:3]}-{digits[3:6]}-{digits[6:]}">\
{escape(found.phone)}</a></p>
{shown}
</section></main>
<footer><ul class="social">{social}</ul>
<a href="https://www.facebook.com/sharer/sharer.php?u={page_url}">Share</a>
<a href="https://twitter.com/intent/tweet?url={page_url}">Tweet</a>
<template><a href="mailto:template@{found.domain}">x</a></template>
</footer></body></html>
"""


def _show_email(email: str, kind: str | None, rng: random.Random) -> str:
    """One address written as real sites write theirs."""
    local, _, domain = email.partition("@")
    if kind == "plain":
        scheme = rng.choice(("mailto", "MAILTO"))
        text = email.replace("@", rng.choice(("@", "&#64;", "&commat;")))
        return f'<p>Email: <a href="{scheme}:{email}?subject=Hello%20there">{text}</a></p>'
    if rng.random() < 0.5:
        return f"<p>Email: {local} [at] {domain.replace('.', ' [dot] ')}</p>"
    key = rng.randrange(1, 256)
    encoded = f"{key:02x}" + "".join(f"{ord(char) ^ key:02x}" for char in email)
    return (
        f'<p>Email: <a href="/cdn-cgi/l/email-protection#{encoded}"><span class="__cf_email__"'
        f' data-cfemail="{encoded}">[email&#160;protected]</span></a></p>'
    )


# -- the app -------------------------------------------------------------------------------


@dataclass
class Fault:
    path: str
    status: int | None = 500
    delay: float = 0.0
    times: int | None = 1
    json: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise ValueError("path must start with /")
        if self.status is not None and not isinstance(self.status, int):
            raise ValueError("status must be an HTTP status or null")
        if not isinstance(self.delay, int | float) or self.delay < 0:
            raise ValueError("delay must be a number of seconds")
        if self.times is not None and (not isinstance(self.times, int) or self.times < 1):
            raise ValueError("times must be at least 1, or null")

    def response(self) -> Response:
        if self.json is not None:
            return JSONResponse(self.json, self.status)
        if self.path.startswith("/v2/"):
            error_id, details = HUNTER_ERRORS.get(
                self.status, ("internal_error", "An internal error occurred.")
            )
            return _hunter_error(self.status, error_id, details)
        return PlainTextResponse(f"stand-in fault: HTTP {self.status}", self.status)


class StandIns:
    """The ASGI app: the providers' endpoints behind fault injection and request counts."""

    def __init__(
        self, places_key: str = STANDIN_PLACES_KEY, hunter_key: str = STANDIN_HUNTER_KEY
    ) -> None:
        self.places_key = places_key
        self.hunter_key = hunter_key
        self.faults: dict[str, deque[Fault]] = {}
        self.requests: Counter[str] = Counter()
        self.app = Starlette(
            routes=[
                Route("/maps/api/place/textsearch/json", self.text_search),
                Route("/maps/api/place/details/json", self.place_details),
                Route("/v2/domain-search", self.domain_search),
                Route("/v2/email-verifier", self.email_verifier),
                Route("/sites/{slug}/", self.site),
                Route("/sites/{slug}/moved/{hops:int}", self.moved_site),
                Route("/redirect", self.redirect),
                Route("/__standin/faults", self.list_faults, methods=["GET"]),
                Route("/__standin/faults", self.add_fault, methods=["POST"]),
                Route("/__standin/faults", self.clear_faults, methods=["DELETE"]),
                Route("/__standin/stats", self.stats, methods=["GET"]),
                Route("/__standin/stats", self.clear_stats, methods=["DELETE"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and not path.startswith(CONTROL_PREFIX):
            self.requests[path] += 1
            fault = self._next_fault(path)
            if fault is not None:
                await asyncio.sleep(fault.delay)
                if fault.status is not None:
                    await fault.response()(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _next_fault(self, path: str) -> Fault | None:
        pending = self.faults.get(path)
        if not pending:
            return None
        fault = pending[0]
        if fault.times is not None:
            fault.times -= 1
            if fault.times == 0:
                pending.popleft()
        return fault

    # -- Google Places

    async def text_search(self, request: Request) -> Response:
        params = request.query_params
        if params.get("key") != self.places_key:
            return _places_denied()
        query = params.get("query", "").strip()
        if not query:
            return _places_answer("INVALID_REQUEST", results=[])
        place = _place(query, _base_url(request))
        if place is None:
            return _places_answer("ZERO_RESULTS", results=[])
        return _places_answer("OK", results=[{key: place[key] for key in SEARCH_FIELDS}])

    async def place_details(self, request: Request) -> Response:
        params = request.query_params
        if params.get("key") != self.places_key:
            return _places_denied()
        place_id = params.get("place_id", "")
        try:
            query = base64.urlsafe_b64decode(place_id.removeprefix("ChIJ") + "==").decode()
        except ValueError:
            query = ""
        if not place_id.startswith("ChIJ") or not query:
            return _places_answer("INVALID_REQUEST")
        place = _place(query, _base_url(request))
        if place is None:
            return _places_answer("NOT_FOUND")
        fields = params.get("fields")
        if fields:
            place = {key: place[key] for key in fields.split(",") if key in place}
        return _places_answer("OK", result=place)

    # -- Hunter

    async def domain_search(self, request: Request) -> Response:
        params = request.query_params
        if params.get("api_key") != self.hunter_key:
            return _hunter_error(401, *HUNTER_ERRORS[401])
        domain = params.get("domain", "").strip().lower()
        company = params.get("company", "").strip()
        if not domain and not company:
            return _hunter_error(
                400, "wrong_params", "You are missing the domain or the company name to search"
            )
        raw_limit = params.get("limit", "10")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
            return _hunter_error(400, "wrong_params", "limit must be from 1 to 100")
        limit = int(raw_limit)
        found = business(domain.removesuffix(".example") if domain else slugify(company))
        domain = domain or found.domain
        site_url = f"{_base_url(request)}/sites/{found.slug}/"
        emails = [_hunter_email(contact, domain, site_url) for contact in found.contacts]
        return JSONResponse(
            {
                "data": {
                    "domain": domain,
                    "disposable": False,
                    "webmail": False,
                    "accept_all": False,
                    "pattern": "{first}.{last}" if len(emails) > 1 else None,
                    "organization": company or found.title,
                    "emails": emails[:limit],
                    "linked_domains": [],
                },
                "meta": {
                    "results": len(emails),
                    "limit": limit,
                    "offset": 0,
                    "params": {
                        "domain": params.get("domain"),
                        "company": params.get("company"),
                        "type": None,
                        "seniority": None,
                        "department": None,
                    },
                },
            }
        )

    async def email_verifier(self, request: Request) -> Response:
        params = request.query_params
        if params.get("api_key") != self.hunter_key:
            return _hunter_error(401, *HUNTER_ERRORS[401])
        email = params.get("email", "").strip()
        if not email:
            return _hunter_error(400, "wrong_params", "You are missing the email to verify")
        return JSONResponse({"data": verification(email), "meta": {"params": {"email": email}}})

    # -- websites

    async def site(self, request: Request) -> Response:
        found = business(request.path_params["slug"])
        if found.site is None:
            return PlainTextResponse("Not Found", 404)
        if found.site == "down":
            return PlainTextResponse("Service Unavailable", 503)
        return HTMLResponse(_site_page(found))

    async def moved_site(self, request: Request) -> Response:
        slug, hops = request.path_params["slug"], request.path_params["hops"]
        target = f"/sites/{slug}/moved/{hops - 1}" if hops > 1 else f"/sites/{slug}/"
        return RedirectResponse(target, 302)

    async def redirect(self, request: Request) -> Response:
        target = request.query_params.get("to")
        if not target:
            return PlainTextResponse("to= is missing", 400)
        return RedirectResponse(target, 302)

    # -- control

    async def list_faults(self, request: Request) -> Response:
        return JSONResponse([asdict(f) for pending in self.faults.values() for f in pending])

    async def add_fault(self, request: Request) -> Response:
        try:
            fault = Fault(**await request.json())
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": f"not a fault: {exc}"}, 400)
        self.faults.setdefault(fault.path, deque()).append(fault)
        return JSONResponse(asdict(fault), 201)

    async def clear_faults(self, request: Request) -> Response:
        self.faults.clear()
        return Response(status_code=204)

    async def stats(self, request: Request) -> Response:
        return JSONResponse({"requests": dict(self.requests)})

    async def clear_stats(self, request: Request) -> Response:
        self.requests.clear()
        return Response(status_code=204)


def _places_denied() -> JSONResponse:
    return _places_answer(
        "REQUEST_DENIED", results=[], error_message="The provided API key is invalid."
    )


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# -- running -------------------------------------------------------------------------------


def _server(app: StandIns) -> uvicorn.Server:
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=2
    )
    return uvicorn.Server(config)


def _listen(port: int) -> tuple[socket.socket, str]:
    # Naming the protocol lets asyncio set TCP_NODELAY on each connection; without it every
    # response waits out the client's delayed ACK (40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def provider_env(base_url: str) -> dict[str, str]:
    """The receiver's provider settings that point it at stand-ins serving ``base_url``:
    their websites are on loopback, which the receiver refuses unless admitted."""
    return {
        "GOOGLE_PLACES_BASE_URL": base_url,
        "GOOGLE_PLACES_API_KEY": STANDIN_PLACES_KEY,
        "HUNTER_BASE_URL": base_url,
        "HUNTER_API_KEY": STANDIN_HUNTER_KEY,
        "PROVIDER_ALLOW_NETWORKS": STANDIN_NETWORK,
    }


@contextlib.contextmanager
def running_standins(
    port: int = 0, *, places_key: str = STANDIN_PLACES_KEY, hunter_key: str = STANDIN_HUNTER_KEY
) -> Iterator[str]:
    """Serve the stand-ins from a background thread; yields their base URL."""
    sock, base_url = _listen(port)
    server = _server(StandIns(places_key, hunter_key))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=30, interval=0.01)
        if not server.started:
            raise RuntimeError("the stand-in server did not start")
        yield base_url
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m prospectpro_dev.standins",
        description="Serve the provider stand-ins on 127.0.0.1; prints the base URL first.",
    )
    parser.add_argument("--port", type=int, default=8700, help="0 picks a free port")
    parser.add_argument(
        "--places-key",
        default=os.environ.get("GOOGLE_PLACES_API_KEY", STANDIN_PLACES_KEY),
        help=f"key to accept (default: $GOOGLE_PLACES_API_KEY, else {STANDIN_PLACES_KEY})",
    )
    parser.add_argument(
        "--hunter-key",
        default=os.environ.get("HUNTER_API_KEY", STANDIN_HUNTER_KEY),
        help=f"key to accept (default: $HUNTER_API_KEY, else {STANDIN_HUNTER_KEY})",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sock, base_url = _listen(args.port)
    print(base_url, flush=True)
    _server(StandIns(args.places_key, args.hunter_key)).run(sockets=[sock])


if __name__ == "__main__":
    main()
