"""Where the providers are, which keys to use, what calls cost and how long to wait.

``ProviderConfig.from_env()`` reads:

    GOOGLE_PLACES_BASE_URL  default https://maps.googleapis.com
    GOOGLE_PLACES_API_KEY
    HUNTER_BASE_URL         default https://api.hunter.io
    HUNTER_API_KEY
    PRICE_<API_NAME>        US dollars per call (see prospectpro.providers.pricing)
    PROVIDER_ALLOW_NETWORKS comma-separated CIDRs a lead's website may be on although
                            not globally routable (see prospectpro.providers.addresses);
                            default none. The stand-ins need 127.0.0.0/8.

A provider whose key is not set is never called: a stage that needs it fails at once,
naming the variable (see ``missing_keys``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from .addresses import Network, parse_networks
from .pricing import DEFAULT_PRICES, prices_from_env

# Each provider that needs a key, and the variable that sets it.
KEY_VARIABLES = {"google_places": "GOOGLE_PLACES_API_KEY", "hunter": "HUNTER_API_KEY"}


@dataclass(frozen=True)
class ProviderConfig:
    places_base_url: str = "https://maps.googleapis.com"
    places_api_key: str = field(default="", repr=False)
    hunter_base_url: str = "https://api.hunter.io"
    hunter_api_key: str = field(default="", repr=False)
    prices: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    # A stage must answer its webhook within the database's 10 s delivery timeout.
    call_timeout: float = 4.0
    stage_budget: float = 8.0
    website_max_bytes: int = 1 << 20
    website_max_redirects: int = 5
    allow_networks: tuple[Network, ...] = ()

    def missing_keys(self) -> dict[str, str]:
        """The providers with no key configured, each with the variable to set."""
        keys = {"google_places": self.places_api_key, "hunter": self.hunter_api_key}
        return {p: variable for p, variable in KEY_VARIABLES.items() if not keys[p]}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ProviderConfig:
        return cls(
            places_base_url=environ.get("GOOGLE_PLACES_BASE_URL", cls.places_base_url).rstrip("/"),
            places_api_key=environ.get("GOOGLE_PLACES_API_KEY", ""),
            hunter_base_url=environ.get("HUNTER_BASE_URL", cls.hunter_base_url).rstrip("/"),
            hunter_api_key=environ.get("HUNTER_API_KEY", ""),
            prices=prices_from_env(environ),
            allow_networks=parse_networks(environ.get("PROVIDER_ALLOW_NETWORKS", "")),
        )
