"""Concurrent webhook POSTs over keep-alive connections, bounded per endpoint.

One event loop and one httpx client per endpoint live as long as the database
session, so consecutive rounds reuse their connections.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

EXCERPT_BYTES = 512


@dataclass(frozen=True)
class Request:
    url: str
    headers: dict[str, str]
    body: bytes
    timeout: float
    max_connections: int


@dataclass(frozen=True)
class Outcome:
    ok: bool
    sent_at: float
    latency_ms: float
    http_status: int | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after: str | None = None


def _describe(exc: BaseException, timeout: float) -> str:
    """A short, secret-free reason for a failed request."""
    if isinstance(exc, (asyncio.TimeoutError, httpx.TimeoutException)):
        return f"timeout after {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {exc}"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return f"connection reset: {exc or type(exc).__name__}"
    return f"{type(exc).__name__}: {exc}"


class Transport:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._clients: dict[tuple[str, int], tuple[httpx.AsyncClient, asyncio.Semaphore]] = {}

    def _client(self, request: Request) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        origin = httpx.URL(request.url)
        key = (f"{origin.scheme}://{origin.host}:{origin.port}", request.max_connections)
        if key not in self._clients:
            limits = httpx.Limits(
                max_connections=request.max_connections,
                max_keepalive_connections=request.max_connections,
            )
            client = httpx.AsyncClient(limits=limits, follow_redirects=False)
            self._clients[key] = (client, asyncio.Semaphore(request.max_connections))
        return self._clients[key]

    def post_all(self, requests: list[Request], start_within: float) -> list[Outcome | None]:
        """POST every request; None for one not started within ``start_within`` s.

        A request waits for one of its endpoint's connections; one still
        waiting after ``start_within`` seconds is left for a later round, so a
        round lasts at most ``start_within`` plus the longest timeout.
        """
        return self._loop.run_until_complete(self._post_all(requests, start_within))

    async def _post_all(self, requests: list[Request], start_within: float) -> list[Outcome | None]:
        start_by = time.monotonic() + start_within
        return await asyncio.gather(*(self._post(r, start_by) for r in requests))

    async def _post(self, request: Request, start_by: float) -> Outcome | None:
        client, slots = self._client(request)
        async with slots:
            if time.monotonic() > start_by:
                return None
            sent_at = time.time()
            started = time.perf_counter()
            try:
                return await asyncio.wait_for(
                    self._exchange(client, request, sent_at, started), request.timeout
                )
            except (TimeoutError, httpx.HTTPError, OSError) as exc:
                return Outcome(
                    ok=False,
                    sent_at=sent_at,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    error=_describe(exc, request.timeout),
                )

    @staticmethod
    async def _exchange(
        client: httpx.AsyncClient, request: Request, sent_at: float, started: float
    ) -> Outcome:
        async with client.stream(
            "POST",
            request.url,
            content=request.body,
            headers=request.headers,
            timeout=request.timeout,
        ) as response:
            excerpt = b""
            async for chunk in response.aiter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
        ok = 200 <= response.status_code < 300
        return Outcome(
            ok=ok,
            sent_at=sent_at,
            latency_ms=(time.perf_counter() - started) * 1000,
            http_status=response.status_code,
            error=None if ok else f"HTTP {response.status_code}",
            excerpt=excerpt[:EXCERPT_BYTES].decode("utf-8", "replace") or None,
            retry_after=response.headers.get("retry-after"),
        )
