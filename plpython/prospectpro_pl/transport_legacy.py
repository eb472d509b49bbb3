"""Concurrent webhook POSTs over keep-alive connections, bounded per endpoint.

A small HTTP/1.1 client on asyncio streams: a webhook POST needs no more, and
a general client (httpx under Debian's Python) spent 1.4 ms of CPU per
request, most of a delivery round. One event loop and one pool of connections
per endpoint live as long as the database session, so consecutive rounds
reuse their connections.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

EXCERPT_BYTES = 512
# A longer answer is not read to its end: the connection is closed instead.
MAX_BODY_BYTES = 1 << 20
MAX_HEADER_LINES = 100


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


class ProtocolError(Exception):
    """The endpoint's answer was not HTTP/1.1 we can read."""


@dataclass
class _Pool:
    """Connections to one origin, at most ``size`` in use at once."""

    host: str
    port: int
    tls: ssl.SSLContext | None
    slots: asyncio.Semaphore
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(
            self.host, self.port, ssl=self.tls, server_hostname=self.host if self.tls else None
        )


def _describe(exc: BaseException, timeout: float) -> str:
    """A short, secret-free reason for a failed request."""
    if isinstance(exc, asyncio.TimeoutError):
        return f"timeout after {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError | OSError) and not isinstance(
        exc, ConnectionResetError | BrokenPipeError | asyncio.IncompleteReadError
    ):
        return f"connection failed: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | asyncio.IncompleteReadError):
        return f"connection reset: {type(exc).__name__}"
    return f"{type(exc).__name__}: {exc}"


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> tuple[bytes, bool]:
    """The body's first bytes, and whether the connection can be used again."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if len(body) + size > MAX_BODY_BYTES:
                return body[:EXCERPT_BYTES], False
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return body[:EXCERPT_BYTES], True
            body += chunk[:-2]
    length = headers.get("content-length")
    if length is None:  # delimited by the end of the connection
        return (await reader.read(MAX_BODY_BYTES))[:EXCERPT_BYTES], False
    if not length.isdigit():
        raise ProtocolError("invalid Content-Length")
    if int(length) > MAX_BODY_BYTES:
        return (await reader.read(EXCERPT_BYTES))[:EXCERPT_BYTES], False
    return (await reader.readexactly(int(length)))[:EXCERPT_BYTES], True


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: bytes
) -> tuple[int, dict[str, str], bytes, bool]:
    """Send one request; returns status, headers, body excerpt, and keep-alive."""
    writer.write(message)
    await writer.drain()
    while True:  # skip 1xx interim answers
        line = await reader.readline()
        if not line:
            raise ConnectionResetError("closed before answering")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError("not an HTTP/1.x status line")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            header = await reader.readline()
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            raise ProtocolError("too many header lines")
        if status >= 200:
            break
    body, reusable = await _read_body(reader, headers)
    keep = reusable and headers.get("connection", "").lower() != "close"
    return status, headers, body, keep and parts[0] == b"HTTP/1.1"


class Transport:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._pools: dict[tuple[str, str, int, int], _Pool] = {}
        self._targets: dict[str, tuple[_Pool, bytes]] = {}

    def _target(self, request: Request) -> tuple[_Pool, bytes]:
        """The pool of the request's origin, and its request head up to the headers."""
        key = request.url
        if key not in self._targets:
            url = urlsplit(request.url)
            tls = ssl.create_default_context() if url.scheme == "https" else None
            port = url.port or (443 if tls else 80)
            origin = (url.scheme, url.hostname or "", port, request.max_connections)
            if origin not in self._pools:
                slots = asyncio.Semaphore(request.max_connections)
                self._pools[origin] = _Pool(url.hostname or "", port, tls, slots)
            host = url.hostname if url.port is None else f"{url.hostname}:{url.port}"
            target = (url.path or "/") + (f"?{url.query}" if url.query else "")
            head = f"POST {target} HTTP/1.1\r\nhost: {host}\r\n".encode("ascii")
            self._targets[key] = (self._pools[origin], head)
        return self._targets[key]

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
        pool, head = self._target(request)
        headers = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
        message = (
            head
            + headers.encode("latin-1")
            + f"content-length: {len(request.body)}\r\n\r\n".encode("ascii")
            + request.body
        )
        async with pool.slots:
            if time.monotonic() > start_by:
                return None
            sent_at = time.time()
            started = time.perf_counter()
            try:
                status, answer, body = await asyncio.wait_for(
                    self._send(pool, message), request.timeout
                )
            except (TimeoutError, OSError, ProtocolError, ValueError, ssl.SSLError) as exc:
                return Outcome(
                    ok=False,
                    sent_at=sent_at,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    error=_describe(exc, request.timeout),
                )
        ok = 200 <= status < 300
        return Outcome(
            ok=ok,
            sent_at=sent_at,
            latency_ms=(time.perf_counter() - started) * 1000,
            http_status=status,
            error=None if ok else f"HTTP {status}",
            excerpt=body.decode("utf-8", "replace") or None,
            retry_after=answer.get("retry-after"),
        )

    async def _send(self, pool: _Pool, message: bytes) -> tuple[int, dict[str, str], bytes]:
        """One exchange on a kept connection, or a new one; the connection goes
        back to the pool when it can be reused."""
        reader, writer = await self._connection(pool)
        try:
            status, headers, body, keep = await _exchange(reader, writer, message)
        except BaseException:
            writer.close()
            raise
        if keep:
            pool.idle.append((reader, writer))
        else:
            writer.close()
        return status, headers, body

    @staticmethod
    async def _connection(pool: _Pool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """An idle connection the endpoint has not closed meanwhile, or a new one.

        An idle connection has nothing to read unless its peer closed it (or
        broke the protocol): either way it is not reused.
        """
        while pool.idle:
            reader, writer = pool.idle.pop()
            sock = writer.get_extra_info("socket")
            if sock is not None and not select.select([sock], [], [], 0)[0]:
                return reader, writer
            writer.close()
        return await pool.connect()
