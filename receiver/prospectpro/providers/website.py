"""Stage 2a: fetch a lead's website and read the contacts it publishes.

A site that cannot be read is a finding about the lead (website_reachable false), not a
provider failure: delivering the webhook again would not bring it back sooner.
"""

from __future__ import annotations

import codecs

import httpx

from .calls import ProviderError, StageRun
from .contacts import extract_contacts

API_NAME = "website_scrape"
HEADERS = {
    "User-Agent": "ProspectPro/1.0 (lead enrichment)",
    "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
}
HTML_TYPES = ("text/html", "application/xhtml+xml")


async def scrape(run: StageRun, url: str) -> dict:
    """The site's final URL, whether it answered, and the emails, phones and social links on
    its page."""
    run.bill(API_NAME)
    url = url if "://" in url else f"http://{url}"  # sites on https redirect there
    try:
        final_url, html = await _fetch(run, url)
    except ProviderError as exc:
        return unreachable(url, exc.reason)
    contacts = extract_contacts(html, final_url)
    return {
        "website_url": final_url,
        "website_reachable": True,
        "website_error": None,
        "emails": contacts.emails,
        "phones": contacts.phones,
        "social_links": contacts.social_links,
    }


def unreachable(url: str | None, reason: str) -> dict:
    """scrape()'s answer for a site that could not be read."""
    return {
        "website_url": url,
        "website_reachable": False,
        "website_error": reason,
        "emails": [],
        "phones": [],
        "social_links": {},
    }


async def _fetch(run: StageRun, url: str) -> tuple[str, str]:
    """GET the page, following at most website_max_redirects redirects: its URL and HTML."""
    config = run.config
    async with run.timed(API_NAME):
        request = run.client.build_request("GET", url, headers=HEADERS)
        for _ in range(config.website_max_redirects + 1):
            if request.url.scheme not in ("http", "https"):
                raise ProviderError(API_NAME, f"not a web address: {request.url}")
            response = await run.client.send(request, stream=True, follow_redirects=False)
            try:
                if response.next_request is None:
                    return str(response.url), await _read_html(response, config.website_max_bytes)
                request = response.next_request
            finally:
                await response.aclose()
    raise ProviderError(API_NAME, f"more than {config.website_max_redirects} redirects")


async def _read_html(response: httpx.Response, max_bytes: int) -> str:
    """The page's first max_bytes, decoded; "" for what is not HTML."""
    if not response.is_success:
        raise ProviderError(API_NAME, f"HTTP {response.status_code} {response.reason_phrase}")
    content_type = response.headers.get("content-type", "text/html")
    if not content_type.lower().startswith(HTML_TYPES):
        return ""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= max_bytes:
            break  # contact details worth having are near the top, not megabytes down
    try:
        encoding = codecs.lookup(response.charset_encoding or "utf-8").name
    except LookupError:
        encoding = "utf-8"
    return body[:max_bytes].decode(encoding, errors="replace")
