"""The three enrichment stages the receiver runs; stage 4 (scoring) runs in the database.

Each stage takes the lead (at least business_name, address, website, phone, email, and
enrichment_data: what earlier stages found, their data merged into one dict) and returns a
StageResult.  Its ``data`` is what the stage found; ``data["lead"]``, present when the stage
found something for one of the lead's empty columns, holds those values.  A ProviderError
means "deliver this webhook again later"; the calls it carries were billed.  Each stage ends
within ``budget`` seconds (config.stage_budget unless given).  A stage whose provider has no
key fails at once, before any call: ProviderError "google_places: GOOGLE_PLACES_API_KEY is
not set".

stage1  Google Places.  business_verified, place_id, place_name, formatted_address, phone,
        website, rating, user_ratings_total, business_status, maps_url.
        Lead columns: phone, website, address.
stage2  The website (the lead's, else stage 1's) and Hunter's Domain Search (by the site's
        domain, else by business name).  website_url, website_reachable, website_error,
        emails, phones and social_links (published on the site), email_domain,
        organization, email_pattern, contacts (Hunter's: value, type, confidence,
        first_name, last_name, position) and best_email: a site address Hunter also knows,
        else the first on the site, else Hunter's most confident.  Lead column: phone.
stage3  Hunter's Email Verifier on the lead's email, else stage 2's best_email: Hunter's
        email, status, result, score, regexp, gibberish, disposable, webmail, mx_records,
        smtp_check, accept_all and block (all None when there was nothing to verify), and
        email_deliverable (status valid or webmail).  Lead column: email, unless Hunter
        finds it invalid or disposable.
"""

from __future__ import annotations

from typing import Any

import httpx

from . import hunter, places, website
from .calls import StageResult, StageRun
from .config import ProviderConfig

DELIVERABLE = {"valid", "webmail"}
UNUSABLE = {"invalid", "disposable"}


async def stage1(
    client: httpx.AsyncClient, config: ProviderConfig, lead: dict, *, budget: float | None = None
) -> StageResult:
    async with StageRun(client, config, budget) as run:
        run.require("google_places")
        found = await places.validate_business(run, lead["business_name"], lead.get("address"))
    if not found["business_verified"]:
        return StageResult(found, run.calls)
    return _with_lead_updates(
        run,
        lead,
        found,
        phone=found["phone"],
        website=found["website"],
        address=found["formatted_address"],
    )


async def stage2(
    client: httpx.AsyncClient, config: ProviderConfig, lead: dict, *, budget: float | None = None
) -> StageResult:
    url = lead.get("website") or _earlier(lead).get("website")
    async with StageRun(client, config, budget) as run:
        run.require("hunter")
        site = await website.scrape(run, url) if url else website.unreachable(None, "no website")
        domain = hunter.searchable_domain(site["website_url"])
        known = await hunter.domain_search(run, domain=domain, company=lead["business_name"])
    data = {
        **site,
        "email_domain": known["domain"] or domain,
        "organization": known["organization"],
        "email_pattern": known["pattern"],
        "contacts": known["emails"],
        "best_email": _best_email(site["emails"], known["emails"]),
    }
    return _with_lead_updates(run, lead, data, phone=next(iter(site["phones"]), None))


async def stage3(
    client: httpx.AsyncClient, config: ProviderConfig, lead: dict, *, budget: float | None = None
) -> StageResult:
    email = lead.get("email") or _earlier(lead).get("best_email")
    if not email:
        unverified = dict.fromkeys(hunter.VERIFICATION_FIELDS)
        return StageResult({**unverified, "email_deliverable": False})
    async with StageRun(client, config, budget) as run:
        run.require("hunter")
        verdict = await hunter.verify_email(run, email)
    data = {**verdict, "email_deliverable": verdict["status"] in DELIVERABLE}
    usable = verdict["status"] not in UNUSABLE
    return _with_lead_updates(run, lead, data, email=email if usable else None)


def _earlier(lead: dict) -> dict:
    return lead.get("enrichment_data") or {}


def _with_lead_updates(run: StageRun, lead: dict, data: dict, **found: Any) -> StageResult:
    """``data``, plus under "lead" what was found for the lead's empty columns."""
    updates = {column: value for column, value in found.items() if value and not lead.get(column)}
    return StageResult({**data, "lead": updates} if updates else data, run.calls)


def _best_email(on_site: list[str], contacts: list[dict]) -> str | None:
    known = [contact["value"] for contact in contacts]
    corroborated = [email for email in on_site if email in known]
    by_confidence = sorted(contacts, key=lambda contact: contact["confidence"] or 0, reverse=True)
    candidates = [*corroborated, *on_site, *(contact["value"] for contact in by_confidence)]
    return next(iter(candidates), None)
