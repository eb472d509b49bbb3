"""What each external call costs, in US dollars, for the api_costs ledger.

A price is per billed call.  The environment variable ``PRICE_<API_NAME>`` (the api_name in
upper case, e.g. ``PRICE_GOOGLE_PLACES_TEXT_SEARCH=0.032``) replaces a default; prices keep
the ledger's four decimal places.  Defaults are list prices in the first volume tier; Google's
monthly free usage and Hunter's yearly-billing discount are not deducted.

========================= ====== =============================================================
api_name                  USD    source of the default
========================= ====== =============================================================
google_places_text_search 0.0400 Google Maps Platform price list, Places API (Legacy), per
                                 1,000 requests: Text Search $32.00, plus Contact Data $3.00
                                 and Atmosphere Data $5.00, which a legacy Text Search always
                                 returns (its fields cannot be restricted).
google_places_details     0.0250 Same list: Place Details $17.00 + Contact Data $3.00 (phone,
                                 website) + Atmosphere Data $5.00 (rating) per 1,000.
website_scrape            0.0000 Our own HTTP request.
hunter_domain_search      0.0245 hunter.io/pricing, Starter plan: $49 a month for 2,000
                                 credits, $0.0245 a credit.  A Domain Search uses 1 credit for
                                 1 to 10 emails found; one that finds none is not charged.
hunter_email_verifier     0.0123 Same plan: 0.5 credit a verification ($0.01225, rounded half
                                 up); not charged when Hunter cannot verify ("unknown").
========================= ====== =============================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import MappingProxyType

LEDGER_PRECISION = Decimal("0.0001")  # api_costs.cost is numeric(12, 4)

DEFAULT_PRICES: Mapping[str, Decimal] = MappingProxyType(
    {
        "google_places_text_search": Decimal("0.0400"),
        "google_places_details": Decimal("0.0250"),
        "website_scrape": Decimal("0.0000"),
        "hunter_domain_search": Decimal("0.0245"),
        "hunter_email_verifier": Decimal("0.0123"),
    }
)


def prices_from_env(environ: Mapping[str, str]) -> dict[str, Decimal]:
    """The default prices, each replaced by its ``PRICE_<API_NAME>`` variable when set."""
    prices = dict(DEFAULT_PRICES)
    for name in prices:
        variable = f"PRICE_{name.upper()}"
        if variable in environ:
            prices[name] = _parse_price(variable, environ[variable])
    return prices


def _parse_price(variable: str, raw: str) -> Decimal:
    try:
        price = Decimal(raw.strip())
    except InvalidOperation:
        price = Decimal("NaN")
    if not price.is_finite() or price < 0:
        raise ValueError(f"{variable} must be a non-negative number of US dollars, not {raw!r}")
    return price.quantize(LEDGER_PRECISION, rounding=ROUND_HALF_UP)
