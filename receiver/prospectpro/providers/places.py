"""Stage 1, business validation: Google Places API (Legacy) Text Search, then Place Details.

A business is verified when Text Search's best match carries the lead's name and Google does
not list it as permanently closed.  ZERO_RESULTS, NOT_FOUND and a match under another name
are answers (business_verified false); OVER_QUERY_LIMIT, REQUEST_DENIED, UNKNOWN_ERROR and
other statuses are ProviderErrors.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from typing import Any

from .calls import ProviderError, StageRun

TEXT_SEARCH = "google_places_text_search"
DETAILS = "google_places_details"
PATHS = {
    TEXT_SEARCH: "/maps/api/place/textsearch/json",
    DETAILS: "/maps/api/place/details/json",
}
# Basic Data, plus the Contact Data (phone, website) and Atmosphere Data (rating) we price in.
DETAILS_FIELDS = (
    "place_id,name,formatted_address,business_status,url,"
    "formatted_phone_number,international_phone_number,website,"
    "rating,user_ratings_total"
)
# Statuses that answer the question; Google bills them like any successful request.
ANSWERS = {"OK", "ZERO_RESULTS", "NOT_FOUND"}
# Words that name no business in particular: "Joe's Pizza LLC" is "Joe's Pizza".
FILLER_WORDS = {"the", "and", "inc", "llc", "ltd", "co", "corp", "company"}


async def validate_business(run: StageRun, business_name: str, address: str | None) -> dict:
    """What Google Places knows of the business; every key is present, None when unknown."""
    query = ", ".join(part for part in (business_name, address) if part)
    search = await _get(run, TEXT_SEARCH, query=query)
    candidate = next(iter(search.get("results") or []), None)
    if candidate is None:
        return _summary({}, verified=False)
    if not same_business(business_name, candidate.get("name", "")):
        return _summary({"name": candidate.get("name")}, verified=False)
    details = await _get(run, DETAILS, place_id=candidate["place_id"], fields=DETAILS_FIELDS)
    place = details.get("result")
    if place is None:
        return _summary({}, verified=False)
    return _summary(place, verified=place.get("business_status") != "CLOSED_PERMANENTLY")


def same_business(lead_name: str, place_name: str) -> bool:
    """Whether Google's name for a place is the lead's: one's words include the other's (Google
    adds or drops a branch or legal suffix), or they are spelled nearly the same."""
    lead_words, place_words = _name_words(lead_name), _name_words(place_name)
    if not lead_words or not place_words:
        return False
    if lead_words <= place_words or place_words <= lead_words:
        return True
    spelled = SequenceMatcher(None, " ".join(sorted(lead_words)), " ".join(sorted(place_words)))
    return spelled.ratio() >= 0.85


def _name_words(name: str) -> set[str]:
    folded = unicodedata.normalize("NFKD", name).casefold().replace("&", " and ")
    words = re.findall(r"[a-z0-9]+", re.sub(r"['’]", "", folded))
    return set(words) - FILLER_WORDS


async def _get(run: StageRun, api_name: str, **params: str) -> dict:
    config = run.config
    params["key"] = config.places_api_key
    body = await run.get_json(api_name, config.places_base_url + PATHS[api_name], params)
    status = body.get("status")
    if status not in ANSWERS:
        raise ProviderError(api_name, f"{status}: {body.get('error_message', 'no message')}")
    run.bill(api_name)
    return body


def _summary(place: dict[str, Any], verified: bool) -> dict:
    return {
        "business_verified": verified,
        "place_id": place.get("place_id"),
        "place_name": place.get("name"),
        "formatted_address": place.get("formatted_address"),
        "phone": place.get("international_phone_number") or place.get("formatted_phone_number"),
        "website": place.get("website"),
        "rating": place.get("rating"),
        "user_ratings_total": place.get("user_ratings_total"),
        "business_status": place.get("business_status"),
        "maps_url": place.get("url"),
    }
