"""TEMPORARY (bench comparison only): the delivery client on aiohttp."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from .transport import EXCERPT_BYTES, Outcome, Request


class Transport:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._sessions: dict[int, aiohttp.ClientSession] = {}
        self._slots: dict[tuple[str, int], asyncio.Semaphore] = {}

    def post_all(self, requests: list[Request], start_within: float) -> list[Outcome | None]:
        return self._loop.run_until_complete(self._post_all(requests, start_within))

    async def _post_all(self, requests, start_within):
        start_by = time.monotonic() + start_within
        return await asyncio.gather(*(self._post(r, start_by) for r in requests))

    async def _post(self, r: Request, start_by: float) -> Outcome | None:
        session = self._sessions.get(r.max_connections)
        if session is None:
            session = self._sessions[r.max_connections] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=r.max_connections),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        slots = self._slots.setdefault(
            (r.url, r.max_connections), asyncio.Semaphore(r.max_connections)
        )
        async with slots:
            if time.monotonic() > start_by:
                return None
            sent_at = time.time()
            started = time.perf_counter()
            try:
                async with asyncio.timeout(r.timeout):
                    async with session.post(
                        r.url, data=r.body, headers=r.headers, allow_redirects=False
                    ) as resp:
                        body = await resp.read()
                        status, retry_after = resp.status, resp.headers.get("retry-after")
            except Exception as exc:
                return Outcome(
                    ok=False,
                    sent_at=sent_at,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    error=f"{type(exc).__name__}: {exc}",
                )
        ok = 200 <= status < 300
        return Outcome(
            ok=ok,
            sent_at=sent_at,
            latency_ms=(time.perf_counter() - started) * 1000,
            http_status=status,
            error=None if ok else f"HTTP {status}",
            excerpt=body[:EXCERPT_BYTES].decode("utf-8", "replace") or None,
            retry_after=retry_after,
        )
