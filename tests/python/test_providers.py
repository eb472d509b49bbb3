"""The enrichment providers' clients, over real HTTP against the local stand-ins."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import Counter
from dataclasses import replace
from decimal import Decimal

import httpx
import pytest
from prospectpro import providers
from prospectpro.providers import ProviderConfig, ProviderError, stage1, stage2, stage3
from prospectpro.providers.contacts import extract_contacts
from prospectpro.providers.hunter import searchable_domain
from prospectpro.providers.pricing import DEFAULT_PRICES, prices_from_env
from prospectpro_dev import standins
from prospectpro_pl import scoring

PLACES_KEY = "test-places-key"
HUNTER_KEY = "test-hunter-key"
TEXT_SEARCH = "/maps/api/place/textsearch/json"
DETAILS = "/maps/api/place/details/json"
DOMAIN_SEARCH = "/v2/domain-search"
EMAIL_VERIFIER = "/v2/email-verifier"


class Control:
    """The stand-ins' control endpoints."""

    def __init__(self, url: str, http: httpx.Client) -> None:
        self.url = url
        self.http = http

    def fail(self, path: str, **fault: object) -> None:
        self.http.post("/__standin/faults", json={"path": path, **fault}).raise_for_status()

    def requests(self, path: str) -> int:
        return self.http.get("/__standin/stats").json()["requests"].get(path, 0)

    def reset(self) -> None:
        self.http.delete("/__standin/faults").raise_for_status()
        self.http.delete("/__standin/stats").raise_for_status()


@pytest.fixture(scope="module")
def standins_url():
    with standins.running_standins(places_key=PLACES_KEY, hunter_key=HUNTER_KEY) as url:
        yield url


@pytest.fixture(scope="module")
def control_client(standins_url):
    with httpx.Client(base_url=standins_url) as http:
        yield http


@pytest.fixture
def standin(standins_url, control_client):
    control = Control(standins_url, control_client)
    control.reset()
    return control


@pytest.fixture
def config(standins_url):
    return ProviderConfig(
        places_base_url=standins_url,
        places_api_key=PLACES_KEY,
        hunter_base_url=standins_url,
        hunter_api_key=HUNTER_KEY,
        # The stand-ins' websites are on loopback.
        allow_networks=(ipaddress.ip_network(standins.STANDIN_NETWORK),),
    )


def run(stage, config, lead, **options):
    async def go():
        async with providers.client(allow_networks=config.allow_networks) as client:
            return await stage(client, config, lead, **options)

    return asyncio.run(go())


def lead(name="Sample Shop", **columns):
    return {
        "business_name": name,
        "address": None,
        "website": None,
        "email": None,
        "phone": None,
        "enrichment_data": {},
        **columns,
    }


def named(wanted) -> str:
    """A business name to which the (deterministic) stand-in world gives what is wanted."""
    for i in range(5000):
        name = f"Sample Shop {i}"
        if wanted(standins.business(standins.slugify(name))):
            return name
    raise LookupError("no such business in the first 5000")


def email_with(verdict) -> str:
    """An email address on which the stand-in Email Verifier gives the wanted verdict."""
    for i in range(5000):
        email = f"person{i}@sample-shop.example"
        if standins.verification(email)["status"] == verdict:
            return email
    raise LookupError(f"no {verdict} address in the first 5000")


def open_for_business(b):
    return b.listed and not b.other_name and b.status == "OPERATIONAL"


def costs(calls):
    return [(call.api_name, call.cost, call.request_count) for call in calls]


def site_url(base, name):
    return f"{base}/sites/{standins.slugify(name)}/"


# -- stage 1: Google Places --------------------------------------------------------------


def test_stage1_verifies_a_listed_business(standin, config):
    name = named(lambda b: open_for_business(b) and b.site == "plain")
    result = run(stage1, config, lead(name, address="12 High St, Springfield, IL"))

    data = result.data
    assert data["business_verified"] is True
    assert data["place_id"].startswith("ChIJ")
    assert data["place_name"] == name
    assert data["business_status"] == "OPERATIONAL"
    assert data["phone"].startswith("+1 ")
    assert data["website"] == site_url(standin.url, name)
    assert 0 <= data["rating"] <= 5
    # The lead's own address stays; what it lacked is filled in.
    assert data["lead"] == {"phone": data["phone"], "website": data["website"]}
    assert costs(result.calls) == [
        ("google_places_text_search", DEFAULT_PRICES["google_places_text_search"], 1),
        ("google_places_details", DEFAULT_PRICES["google_places_details"], 1),
    ]
    assert standin.requests(TEXT_SEARCH) == standin.requests(DETAILS) == 1


@pytest.mark.parametrize(
    ("wanted", "details_calls"),
    [
        pytest.param(lambda b: not b.listed, 0, id="not listed"),
        pytest.param(lambda b: b.other_name, 0, id="listed under another name"),
        pytest.param(
            lambda b: b.listed and not b.other_name and b.status == "CLOSED_PERMANENTLY",
            1,
            id="permanently closed",
        ),
    ],
)
def test_stage1_an_unverified_business_is_an_answer_not_an_error(
    standin, config, wanted, details_calls
):
    result = run(stage1, config, lead(named(wanted)))

    assert result.data["business_verified"] is False
    assert "lead" not in result.data
    assert [call.api_name for call in result.calls] == [
        "google_places_text_search",
        *["google_places_details"] * details_calls,
    ]
    assert standin.requests(DETAILS) == details_calls


def test_stage1_a_provider_failing_twice_then_answering(standin, config):
    name = named(open_for_business)
    standin.fail(TEXT_SEARCH, status=500, times=2)

    for _ in range(2):  # the database delivers the webhook again after each failure
        with pytest.raises(ProviderError) as failed:
            run(stage1, config, lead(name))
        assert (failed.value.api_name, failed.value.status) == ("google_places_text_search", 500)
        assert failed.value.calls == []
    assert run(stage1, config, lead(name)).data["business_verified"] is True

    assert standin.requests(TEXT_SEARCH) == 3
    assert standin.requests(DETAILS) == 1


def test_stage1_a_failure_after_a_billed_call_carries_that_call(standin, config):
    standin.fail(DETAILS, status=503)

    with pytest.raises(ProviderError) as failed:
        run(stage1, config, lead(named(open_for_business)))

    assert (failed.value.api_name, failed.value.status) == ("google_places_details", 503)
    assert costs(failed.value.calls) == [
        ("google_places_text_search", DEFAULT_PRICES["google_places_text_search"], 1)
    ]


def test_stage1_places_statuses_that_are_errors(standin, config):
    with pytest.raises(ProviderError, match="REQUEST_DENIED") as denied:
        run(stage1, replace(config, places_api_key="wrong"), lead())
    assert denied.value.calls == []

    standin.fail(
        TEXT_SEARCH,
        status=200,
        json={"results": [], "status": "OVER_QUERY_LIMIT", "error_message": "Quota exceeded."},
    )
    with pytest.raises(ProviderError, match="OVER_QUERY_LIMIT: Quota exceeded"):
        run(stage1, config, lead())


# -- stage 2: the website and Hunter's Domain Search -----------------------------------


def test_stage2_reads_the_site_stage1_found_and_asks_hunter(standin, config):
    name = named(lambda b: b.site == "plain" and len(b.contacts) == 2 and len(b.site_locals) == 1)
    site = site_url(standin.url, name)
    domain = f"{standins.slugify(name)}.example"
    result = run(stage2, config, lead(name, enrichment_data={"website": site}))

    data = result.data
    assert data["website_url"] == site
    assert data["website_reachable"] is True
    generic = data["emails"][0]
    assert data["emails"] == [generic] and generic.endswith(f"@{domain}")
    assert set(data["social_links"]) <= {"facebook", "instagram", "linkedin", "twitter", "yelp"}
    assert data["social_links"]
    assert data["phones"][0].startswith("+1")
    # Hunter was asked by company name: a site on 127.0.0.1 has no domain to search.
    assert data["email_domain"] == domain
    assert [contact["type"] for contact in data["contacts"]] == ["generic", "personal"]
    assert data["best_email"] == generic  # on the site and known to Hunter
    assert data["lead"] == {"phone": data["phones"][0]}
    assert costs(result.calls) == [
        ("website_scrape", Decimal("0"), 1),
        ("hunter_domain_search", DEFAULT_PRICES["hunter_domain_search"], 1),
    ]
    assert standin.requests(f"/sites/{standins.slugify(name)}/") == 1
    assert standin.requests(DOMAIN_SEARCH) == 1


def test_stage2_a_site_that_is_down_is_a_finding(standin, config):
    name = named(lambda b: b.site == "down" and b.contacts)
    result = run(stage2, config, lead(name, website=site_url(standin.url, name)))

    assert result.data["website_reachable"] is False
    assert result.data["website_error"] == "HTTP 503 Service Unavailable"
    assert result.data["emails"] == []
    most_confident = max(result.data["contacts"], key=lambda contact: contact["confidence"])
    assert result.data["best_email"] == most_confident["value"]


def test_stage2_a_site_that_refuses_connections_is_a_finding(standin, config):
    with socket.create_server(("127.0.0.1", 0)) as sock:
        closed_port = sock.getsockname()[1]
    result = run(stage2, config, lead(website=f"http://127.0.0.1:{closed_port}/"))

    assert result.data["website_reachable"] is False
    assert result.data["website_error"].startswith("ConnectError")


def test_stage2_hunter_finding_nothing_costs_nothing(standin, config):
    name = named(lambda b: b.site is None and not b.contacts)
    result = run(stage2, config, lead(name))

    assert result.data["website_error"] == "no website"
    assert result.data["contacts"] == [] and result.data["best_email"] is None
    assert costs(result.calls) == [("hunter_domain_search", Decimal("0.0000"), 1)]


def test_stage2_a_bad_hunter_key_is_a_401_with_hunters_explanation(standin, config):
    name = named(lambda b: b.site == "plain")
    with pytest.raises(ProviderError) as failed:
        run(
            stage2,
            replace(config, hunter_api_key="wrong"),
            lead(name, website=site_url(standin.url, name)),
        )

    assert failed.value.status == 401
    assert failed.value.reason == "authentication_failed: No user found for the API key supplied"
    assert [call.api_name for call in failed.value.calls] == ["website_scrape"]


def test_stage2_follows_a_bounded_number_of_redirects(standin, config):
    name = named(lambda b: b.site == "plain")
    moved = f"{site_url(standin.url, name)}moved/"

    followed = run(stage2, config, lead(name, website=f"{moved}3"))
    assert followed.data["website_url"] == site_url(standin.url, name)
    assert followed.data["emails"]

    looping = run(stage2, config, lead(name, website=f"{moved}9"))
    assert looping.data["website_reachable"] is False
    assert looping.data["website_error"] == "more than 5 redirects"


def test_stage2_reads_no_more_of_a_page_than_the_size_limit(standin, config):
    name = named(lambda b: b.site == "plain")
    small = replace(config, website_max_bytes=200)
    result = run(stage2, small, lead(name, website=site_url(standin.url, name)))

    assert result.data["website_reachable"] is True
    assert result.data["emails"] == []  # the contact section is further down


def test_stage2_a_redirect_to_the_metadata_address_is_refused_at_that_hop(
    standin, config, connects
):
    name = named(lambda b: b.site == "plain" and b.contacts)
    metadata = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    website = f"{standin.url}/redirect?to={metadata}"
    result = run(stage2, config, lead(name, website=website))

    assert result.data["website_reachable"] is False
    assert result.data["website_error"] == "private address: 169.254.169.254 (link-local)"
    assert result.data["contacts"]  # the stage went on: Hunter was asked all the same
    assert standin.requests("/redirect") == 1
    assert set(connects) == {"127.0.0.1"}


def test_stage2_loopback_is_refused_when_the_allow_list_does_not_admit_it(
    standin, config, connects
):
    name = named(lambda b: b.site == "plain" and b.contacts)
    site = site_url(standin.url, name)
    result = run(stage2, replace(config, allow_networks=()), lead(name, website=site))

    assert result.data["website_reachable"] is False
    assert result.data["website_error"] == "private address: 127.0.0.1 (loopback)"
    assert standin.requests(f"/sites/{standins.slugify(name)}/") == 0
    # Hunter's API is the operator's configured URL, on loopback here too: it is exempt.
    assert result.data["contacts"] and standin.requests(DOMAIN_SEARCH) == 1
    assert costs(result.calls) == [
        ("website_scrape", Decimal("0"), 1),
        ("hunter_domain_search", DEFAULT_PRICES["hunter_domain_search"], 1),
    ]


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.joes-pizza.example/menu", "joes-pizza.example"),
        ("http://shop.joes.example:8080/", "shop.joes.example"),
        ("http://127.0.0.1:8700/sites/joes/", None),
        ("http://[::1]/", None),
        ("http://localhost:8000/", None),
        ("https://m.facebook.com/joespizza", None),
        ("http://[bad", None),
        (None, None),
    ],
)
def test_which_websites_hunter_can_search_by_domain(url, domain):
    assert searchable_domain(url) == domain


# -- stage 3: Hunter's Email Verifier ----------------------------------------------------


def test_stage3_verifies_stage2s_best_email_and_adopts_it(standin, config):
    email = email_with("valid")
    result = run(stage3, config, lead(enrichment_data={"best_email": email}))

    assert result.data["email"] == email
    assert (result.data["status"], result.data["result"]) == ("valid", "deliverable")
    assert result.data["email_deliverable"] is True
    assert result.data["lead"] == {"email": email}
    assert costs(result.calls) == [
        ("hunter_email_verifier", DEFAULT_PRICES["hunter_email_verifier"], 1)
    ]


def test_stage3_verifies_the_leads_own_email_first(standin, config):
    own = email_with("accept_all")
    result = run(stage3, config, lead(email=own, enrichment_data={"best_email": "x@y.example"}))

    assert result.data["email"] == own
    assert result.data["email_deliverable"] is False
    assert "lead" not in result.data


def test_stage3_an_undeliverable_email_is_not_adopted(standin, config):
    result = run(stage3, config, lead(enrichment_data={"best_email": email_with("invalid")}))

    assert result.data["result"] == "undeliverable"
    assert result.data["email_deliverable"] is False
    assert "lead" not in result.data


def test_stage3_an_address_hunter_cannot_verify_costs_nothing(standin, config):
    result = run(stage3, config, lead(email=email_with("unknown")))

    assert result.data["status"] == "unknown"
    assert costs(result.calls) == [("hunter_email_verifier", Decimal("0.0000"), 1)]


def test_stage3_with_no_email_calls_nobody(standin, config):
    result = run(stage3, config, lead())

    assert result.data["status"] is None and result.data["email_deliverable"] is False
    assert result.calls == []
    assert standin.requests(EMAIL_VERIFIER) == 0


def test_stage3_a_rate_limit_is_an_error(standin, config):
    standin.fail(EMAIL_VERIFIER, status=429)

    with pytest.raises(ProviderError) as failed:
        run(stage3, config, lead(email=email_with("valid")))

    assert failed.value.status == 429
    assert failed.value.reason.startswith("too_many_requests: ")


# -- time limits ----------------------------------------------------------------------------


def test_a_slow_provider_times_out(standin, config):
    standin.fail(EMAIL_VERIFIER, status=None, delay=1.0)
    started = time.monotonic()

    with pytest.raises(ProviderError, match=r"timeout after 0\.2 s") as failed:
        run(stage3, replace(config, call_timeout=0.2), lead(email=email_with("valid")))

    assert failed.value.api_name == "hunter_email_verifier"
    assert time.monotonic() - started < 0.8


def test_the_stage_budget_bounds_all_its_calls(standin, config):
    standin.fail(TEXT_SEARCH, status=None, delay=0.3)
    standin.fail(DETAILS, status=None, delay=0.3)
    started = time.monotonic()

    with pytest.raises(ProviderError, match="timeout") as failed:
        run(stage1, config, lead(named(open_for_business)), budget=0.5)

    assert failed.value.api_name == "google_places_details"
    assert [call.api_name for call in failed.value.calls] == ["google_places_text_search"]
    assert time.monotonic() - started < 0.9


# -- reading web pages --------------------------------------------------------------------


def cloudflare_protected(email: str, key: int = 0x42) -> str:
    return f"{key:02x}" + "".join(f"{ord(char) ^ key:02x}" for char in email)


TRICKY_PAGE = f"""<!DOCTYPE html>
<html><head><title>Joe&#39;s Pizza</title>
<script>var owner = "tracker@analytics.example";
if (a<b) {{ x = "<a href='mailto:js@x.example'>"; }}</script>
<style>a::after {{ content: "style@joes.example" }}</style></head>
<body>
<!-- retired: old@joes.example -->
<p>Write to <a href="MAILTO:Info@Joes.Example?subject=Hi%20Joe">Info&#64;Joes.Example</a>
or <a href=" mailto:sales%40joes.example,%20billing@joes.example ">sales</a>.</p>
<p>Press: press [at] joes [dot] example · Jobs: JOBS(at)joes(dot)example</p>
<p>Owner: joe&commat;joes&period;example<br>info@joes.example again</p>
<a href="/cdn-cgi/l/email-protection#{cloudflare_protected("cf@joes.example")}">
<span class="__cf_email__" data-cfemail="{cloudflare_protected("cf@joes.example")}">
[email&#160;protected]</span></a>
<p>Our logo: logo@2x.png, hero@3x.JPG; not an address: @joespizza; mailto:</p>
<p>Call <a href="tel:+1%20(619)%20555-0100">(619) 555-0100</a>,
<a href="TEL:619.555.0100;ext=2">extension 2</a> or <a href="tel:+1-619-555-0100">again</a>,
<a href="tel:12">not a number</a>.</p>
<a href="https://www.facebook.com/sharer/sharer.php?u=x">Share</a>
<a href="https://m.facebook.com/joespizza">Facebook</a>
<a href="https://www.facebook.com/someone-else">Another Facebook page</a>
<a href="https://x.com/intent/tweet?text=hi">Tweet</a>
<a href="https://x.com/joespizza">X</a>
<a href="//www.instagram.com/joespizza/">Instagram</a>
<a href="https://www.linkedin.com/shareArticle?url=x">Share on LinkedIn</a>
<a href="https://www.linkedin.com/company/joes-pizza">LinkedIn</a>
<a href="https://notfacebook.com/joes">Lookalike</a>
<a href="https://www.yelp.com/">Yelp home page</a>
<template><a href="mailto:hidden@joes.example">hidden</a> hidden2@joes.example</template>
</body></html>
"""


def test_reading_contacts_from_a_tricky_page():
    found = extract_contacts(TRICKY_PAGE, "https://joes.example/contact/")

    assert found.emails == [
        "info@joes.example",  # MAILTO: in capitals, with a subject; its text repeats it
        "sales@joes.example",  # percent-encoded, two addresses in one mailto:
        "billing@joes.example",
        "cf@joes.example",  # Cloudflare's email protection, in the link and in the span
        "press@joes.example",  # "[at]" and "[dot]"
        "jobs@joes.example",  # "(at)" and "(dot)", in capitals
        "joe@joes.example",  # HTML entities in the visible text
    ]
    assert found.phones == ["+16195550100", "6195550100"]
    assert found.social_links == {
        "facebook": "https://m.facebook.com/joespizza",
        "twitter": "https://x.com/joespizza",
        "instagram": "https://www.instagram.com/joespizza/",
        "linkedin": "https://www.linkedin.com/company/joes-pizza",
    }


def test_every_stand_in_site_reads_as_the_world_says(standin, config):
    """The world's sites hide their addresses in each of the ways the reader undoes."""
    names = [f"Site {i}" for i in range(60)]
    sites = {name: standins.business(standins.slugify(name)) for name in names}
    for name, b in sites.items():
        if b.site in ("plain", "obfuscated", "no_email"):
            result = run(stage2, config, lead(name, website=site_url(standin.url, name)))
            assert result.data["emails"] == [f"{local}@{b.domain}" for local in b.site_locals]
    assert {"plain", "obfuscated", "no_email"} <= {b.site for b in sites.values()}


# -- a campaign's worth of leads ----------------------------------------------------------


def test_a_hundred_leads_make_a_mix_of_qualified_and_unqualified(standin, config):
    async def enrich(client, name):
        row = lead(name, address="1 Main St, Springfield, IL")
        stages = {}
        for stage_name, stage in (("stage1", stage1), ("stage2", stage2), ("stage3", stage3)):
            result = await stage(client, config, row)
            data = dict(result.data)
            row.update({k: v for k, v in data.pop("lead", {}).items() if not row.get(k)})
            row["enrichment_data"] = {**row["enrichment_data"], **data}
            stages[stage_name] = data
        return scoring.score(stages).is_qualified

    async def campaign():
        async with providers.client(allow_networks=config.allow_networks) as client:
            return [await enrich(client, f"Lead {i}") for i in range(100)]

    qualified = Counter(asyncio.run(campaign()))
    assert 20 <= qualified[True] <= 80, qualified


# -- prices and configuration ---------------------------------------------------------------


def test_prices_come_from_the_environment_to_the_ledgers_precision():
    prices = prices_from_env({"PRICE_HUNTER_EMAIL_VERIFIER": " 0.01225 "})

    assert prices["hunter_email_verifier"] == Decimal("0.0123")
    assert prices["google_places_text_search"] == Decimal("0.0400")
    for name in prices:
        assert name.isidentifier() and name == name.lower()


@pytest.mark.parametrize("raw", ["-0.01", "free", "NaN", "Infinity", ""])
def test_a_price_that_is_not_a_price_is_refused(raw):
    with pytest.raises(ValueError, match="PRICE_GOOGLE_PLACES_DETAILS must be"):
        prices_from_env({"PRICE_GOOGLE_PLACES_DETAILS": raw})


def test_configuration_from_the_environment_keeps_keys_out_of_its_repr():
    config = ProviderConfig.from_env(
        {
            "GOOGLE_PLACES_BASE_URL": "http://127.0.0.1:9/",
            "GOOGLE_PLACES_API_KEY": "places-secret",
            "HUNTER_API_KEY": "hunter-secret",
            "PRICE_WEBSITE_SCRAPE": "0.001",
        }
    )

    assert config.places_base_url == "http://127.0.0.1:9"
    assert config.hunter_base_url == "https://api.hunter.io"
    assert (config.places_api_key, config.hunter_api_key) == ("places-secret", "hunter-secret")
    assert config.prices["website_scrape"] == Decimal("0.0010")
    assert "secret" not in repr(config)


def test_the_stand_in_refuses_a_malformed_fault(standin):
    answer = standin.http.post("/__standin/faults", json={"path": "no-slash"})
    assert answer.status_code == 400
    assert standin.http.get("/__standin/faults").json() == []
