"""Concurrent webhook POSTs over keep-alive connections, bounded per endpoint.

h11 reads and writes HTTP/1.1 (interim answers, the framings a server may
choose, trailers, who asked to close); this module only moves its bytes over
asyncio streams. One event loop and one pool of connections per endpoint live
as long as the database session, so consecutive rounds reuse their
connections. Whatever goes wrong with one request (its URL, DNS, the
connection, TLS, the answer, the time it takes) is that request's failed
Outcome: the others go on.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
import time
from dataclasses import dataclass, field

import h11

from .urls import InvalidURL, Target, parse

EXCERPT_BYTES = 512
# A longer answer is not read to its end: the connection is closed instead.
MAX_BODY_BYTES = 1 << 20
MAX_HEAD_BYTES = 64 * 1024
READ_SIZE = 64 * 1024


@dataclass(frozen=True)
class Request:
    url: str
    headers: dict[str, str]
    body: bytes
    timeout: float
    max_connections: int
    ca_file: str | None = None  # PEM of the CAs trusted for https; None: the system's


@dataclass(frozen=True)
class Outcome:
    ok: bool
    sent_at: float
    latency_ms: float
    http_status: int | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after: str | None = None


class _Failure(Exception):
    """A request's failure, described for webhook_logs."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)

    async def next_event(self) -> h11.Event:
        while (event := self._next()) is h11.NEED_DATA:
            self.protocol.receive_data(await self.reader.read(READ_SIZE))
        return event

    def _next(self) -> h11.Event:
        try:
            return self.protocol.next_event()
        except h11.RemoteProtocolError:
            if self.protocol.their_state is h11.CLOSED or self.reader.at_eof():
                raise _Failure("connection closed before the answer was complete") from None
            raise

    def reusable(self) -> bool:
        """After an exchange: whether both sides finished it and neither asked to close,
        and nothing arrived beyond it. If so, the connection is ready for the next."""
        p = self.protocol
        if p.our_state is h11.DONE and p.their_state is h11.DONE and not p.trailing_data[0]:
            p.start_next_cycle()
            return True
        return False

    def alive(self) -> bool:
        """An idle connection has nothing to read unless its peer closed it (or sent
        something unasked, a 408): either way it is not used again."""
        sock = self.writer.get_extra_info("socket")
        if sock is None:
            return False
        readable = select.poll()  # not select.select(): a backend's fds pass 1024
        readable.register(sock.fileno(), select.POLLIN)
        return not readable.poll(0)


@dataclass
class _Pool:
    """Connections to one origin, at most ``slots`` in use at once."""

    target: Target
    tls: ssl.SSLContext | None
    slots: asyncio.Semaphore
    idle: list[_Connection] = field(default_factory=list)

    async def connect(self) -> _Connection:
        host = self.target.host
        try:
            reader, writer = await asyncio.open_connection(
                host,
                self.target.port,
                ssl=self.tls,
                server_hostname=host if self.tls else None,
                limit=READ_SIZE,
            )
        except socket.gaierror as exc:
            raise _Failure(f"DNS lookup failed for {host}: {exc.strerror}") from None
        return _Connection(reader, writer)

    async def connection(self) -> _Connection:
        while self.idle:
            conn = self.idle.pop()
            if conn.alive():
                return conn
            conn.writer.close()
        return await self.connect()


@dataclass
class _Answer:
    status: int
    location: str | None
    retry_after: str | None
    excerpt: bytes


def _describe(exc: BaseException, timeout: float) -> str:
    """A short, secret-free reason for a failed request: never the request's headers."""
    if isinstance(exc, InvalidURL):
        return f"invalid URL: {exc}"
    if isinstance(exc, _Failure):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"timeout after {timeout:g} s"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return f"connection reset: {type(exc).__name__}"
    if isinstance(exc, OSError):
        return f"connection failed: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, h11.LocalProtocolError):  # its message would quote the header
        return "a request header is not valid HTTP (value withheld); nothing was sent"
    if isinstance(exc, h11.RemoteProtocolError):
        return f"protocol error: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificates verified against ``ca_file`` alone when given, else the system's store."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError):
        # Not why (missing, unreadable, not PEM): the server opens the path as
        # its OS user, and the admin who names it should learn nothing more.
        raise _Failure(
            f"TLS: cannot load ca_file {ca_file}: not a PEM file of CA certificates"
            " that the server can read"
        ) from None


def ca_file_problem(ca_file: str) -> str | None:
    """Why the server cannot trust the CAs of ``ca_file``, or None when it can."""
    try:
        _tls_context(ca_file)
    except _Failure as exc:
        return str(exc)
    return None


async def _exchange(conn: _Connection, request: h11.Request, body: bytes) -> _Answer:
    """Send one request; read its answer to the end, or up to MAX_BODY_BYTES."""
    p = conn.protocol
    conn.writer.write(p.send(request) + p.send(h11.Data(data=body)) + p.send(h11.EndOfMessage()))
    await conn.writer.drain()
    while not isinstance(event := await conn.next_event(), h11.Response):
        if isinstance(event, h11.ConnectionClosed):
            raise _Failure("connection closed before the answer was complete")
        # else an interim 1xx answer: the final one follows
    headers = dict(event.headers)
    answer = _Answer(
        event.status_code,
        headers.get(b"location", b"").decode("latin-1") or None,
        headers.get(b"retry-after", b"").decode("latin-1") or None,
        b"",
    )
    received = 0
    while isinstance(part := await conn.next_event(), h11.Data):
        if len(answer.excerpt) < EXCERPT_BYTES:
            answer.excerpt += part.data[: EXCERPT_BYTES - len(answer.excerpt)]
        received += len(part.data)
        if received > MAX_BODY_BYTES:
            break  # the connection is not reusable: its answer was not read to the end
    return answer


class Transport:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._pools: dict[tuple, _Pool] = {}

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

    def _prepare(self, request: Request) -> tuple[_Pool, h11.Request]:
        """The pool of the request's origin, and the request's head."""
        target = parse(request.url)
        key = (target.scheme, target.host, target.port, request.ca_file, request.max_connections)
        pool = self._pools.get(key)
        if pool is None:
            tls = _tls_context(request.ca_file) if target.scheme == "https" else None
            pool = self._pools[key] = _Pool(target, tls, asyncio.Semaphore(request.max_connections))
        # As bytes: h11 converts str headers one by one, a tenth of its time per request.
        head = h11.Request(
            method=b"POST",
            target=target.path.encode(),
            headers=[
                (b"host", target.authority.encode()),
                *((k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()),
                (b"content-length", b"%d" % len(request.body)),
            ],
        )
        return pool, head

    async def _post(self, request: Request, start_by: float) -> Outcome | None:
        try:
            pool, head = self._prepare(request)
        except Exception as exc:  # a bad URL or header fails this request only
            return Outcome(
                ok=False, sent_at=time.time(), latency_ms=0.0, error=_describe(exc, request.timeout)
            )
        async with pool.slots:
            if time.monotonic() > start_by:
                return None
            sent_at = time.time()
            started = time.perf_counter()
            try:
                async with asyncio.timeout(request.timeout):
                    answer = await self._send(pool, head, request.body)
            except Exception as exc:  # any failure is this request's alone
                return Outcome(
                    ok=False,
                    sent_at=sent_at,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    error=_describe(exc, request.timeout),
                )
        status = answer.status
        ok = 200 <= status < 300
        error = None if ok else f"HTTP {status}"
        if 300 <= status < 400 and answer.location:
            error += f" redirect to {answer.location}: not followed"
        return Outcome(
            ok=ok,
            sent_at=sent_at,
            latency_ms=(time.perf_counter() - started) * 1000,
            http_status=status,
            error=error,
            excerpt=answer.excerpt.decode("utf-8", "replace") or None,
            retry_after=answer.retry_after,
        )

    @staticmethod
    async def _send(pool: _Pool, head: h11.Request, body: bytes) -> _Answer:
        """One exchange on a kept connection, or a new one; the connection goes
        back to the pool when it can be used again."""
        conn = await pool.connection()
        try:
            answer = await _exchange(conn, head, body)
        except BaseException:
            conn.writer.close()
            raise
        if conn.reusable():
            pool.idle.append(conn)
        else:
            conn.writer.close()
        return answer
