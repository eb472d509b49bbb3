"""What a stage's provider calls share: the caller's HTTP client, a deadline and a bill."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from .provider_transport import CONFIGURED_DESTINATION, AddressRefused

if TYPE_CHECKING:
    from .config import ProviderConfig


@dataclass(frozen=True)
class Call:
    """One request to an external API and what it cost, as the api_costs ledger records it."""

    api_name: str
    cost: Decimal
    request_count: int = 1


@dataclass
class StageResult:
    """What a stage found, for the lead's enrichment_data, and the calls it made.

    ``data["lead"]``, when present, holds values found for the lead's own columns.
    """

    data: dict[str, Any]
    calls: list[Call] = field(default_factory=list)


class ProviderError(Exception):
    """A provider did not answer usefully now, but may later: the receiver answers the webhook
    non-2xx so that the database delivers it again.

    ``calls`` are the calls the stage had made before failing: they were billed all the same.
    """

    def __init__(self, api_name: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{api_name}: {reason}" + (f" (HTTP {status})" if status else ""))
        self.api_name = api_name
        self.reason = reason
        self.status = status
        self.calls: list[Call] = []


class StageRun:
    """One stage's provider calls, made with the caller's client within one time budget.

    Each call may take ``config.call_timeout`` seconds, less when the stage's budget (by
    default ``config.stage_budget``) runs out first.  Used with ``async with``: a
    ProviderError leaving the block carries the calls made so far.
    """

    def __init__(
        self, client: httpx.AsyncClient, config: ProviderConfig, budget: float | None = None
    ) -> None:
        self.client = client
        self.config = config
        self.calls: list[Call] = []
        self._deadline = time.monotonic() + (config.stage_budget if budget is None else budget)

    async def __aenter__(self) -> StageRun:
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, ProviderError):
            exc.calls = list(self.calls)

    def require(self, provider: str) -> None:
        """Fail before any call when ``provider`` has no key: without one every call
        would go out and fail on the provider's side, billed or not."""
        variable = self.config.missing_keys().get(provider)
        if variable:
            raise ProviderError(provider, f"{variable} is not set")

    def bill(self, api_name: str, units: int = 1) -> None:
        """Record a call that used ``units`` of its priced unit (0 when it was free)."""
        self.calls.append(Call(api_name, self.config.prices[api_name] * units))

    @contextlib.asynccontextmanager
    async def timed(self, api_name: str) -> AsyncIterator[None]:
        """Bound the block by one call's timeout; failures to get an answer are ProviderErrors."""
        timeout = min(self.config.call_timeout, self._deadline - time.monotonic())
        if timeout <= 0:
            raise ProviderError(api_name, "the stage's time budget is spent")
        try:
            async with asyncio.timeout(timeout):
                yield
        except TimeoutError as exc:
            raise ProviderError(api_name, f"timeout after {timeout:.2g} s") from exc
        except AddressRefused as exc:
            raise ProviderError(api_name, str(exc)) from exc
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise ProviderError(api_name, f"{type(exc).__name__}: {exc}") from exc

    async def get_json(
        self,
        api_name: str,
        url: str,
        params: dict[str, Any],
        error_reason: Callable[[httpx.Response], str] = lambda r: r.reason_phrase or "error",
    ) -> Any:
        """GET ``url`` and decode its JSON; any status but 200 is a ProviderError.

        ``url`` is an API's base URL from the operator's configuration plus a fixed path,
        never lead data, and its redirects are not followed: it is exempt from the address
        policy, which guards against lead data naming the host. Holding it to the policy
        would also force an operator who runs the API behind an internal proxy to admit
        that proxy's network for every lead's website too.
        """
        async with self.timed(api_name):
            response = await self.client.get(
                url, params=params, extensions={CONFIGURED_DESTINATION: True}
            )
        if response.status_code != 200:
            raise ProviderError(api_name, error_reason(response), response.status_code)
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderError(api_name, "the answer is not JSON", response.status_code) from exc
