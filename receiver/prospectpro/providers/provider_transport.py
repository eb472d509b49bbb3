"""The providers' HTTP transport: HTTP/1.1 keep-alive over asyncio streams, for httpx.

httpx's own transport (httpcore) spent about 1 ms of CPU per request with 50
webhooks in flight, more than all the rest of a webhook: its pool scans every
connection and takes anyio locks on each request. This one keeps, per origin,
a stack of idle connections and a bound on the connections in use, and lets
h11 speak the protocol. The providers still use httpx's client: requests,
redirects, streamed bodies and its exceptions are unchanged.

Idle connections are kept for KEEPALIVE_EXPIRY seconds and at most MAX_IDLE
of them in all, oldest closed first: the API providers' few origins keep
theirs, while the one-off origins of scraped websites leave no sockets behind.
A connection on which anything arrived while it was idle (an early close, a
408) is never reused.

Every connection is held to the address policy (prospectpro.providers.addresses):
the transport resolves the host itself, checks each address, and connects to an
address it checked, with the host's name for TLS (SNI, certificate) and in the
Host header, so a name that resolves elsewhere a second time (DNS rebinding)
changes nothing. A redirect is a new request, checked the same way. Requests to a
URL the operator configured say so (CONFIGURED_DESTINATION) and are exempt; their
connections are never lent to other requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import ipaddress
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

import h11
import httpx

from .addresses import Address, Network, refusal

READ_SIZE = 64 * 1024
MAX_HEAD_BYTES = 100 * 1024  # httpcore's limit; h11's own is 16 KiB
KEEPALIVE_EXPIRY = 5.0
MAX_IDLE = 100
IDEMPOTENT = {"GET", "HEAD", "OPTIONS"}

# scheme, host, port, and whether the connection is held to the address policy
Origin = tuple[str, str, int, bool]
Resolver = Callable[[str, int], Awaitable[Iterable[str]]]
# A request extension: {CONFIGURED_DESTINATION: True} exempts it from the address policy.
CONFIGURED_DESTINATION = "prospectpro.configured_destination"


class AddressRefused(httpx.ConnectError):
    """The address policy refused every address of the host: no socket was opened."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses, from the system's resolver (getaddrinfo), in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class _Reader(asyncio.StreamReader):
    """A stream reader that notices anything arriving while its connection is idle."""

    idle = False
    stale = False

    def feed_data(self, data: bytes) -> None:
        self.stale |= self.idle
        super().feed_data(data)

    def feed_eof(self) -> None:
        self.stale |= self.idle
        super().feed_eof()


class _Connection:
    def __init__(self, origin: Origin, reader: _Reader, writer: asyncio.StreamWriter) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.protocol = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.idle_since = 0.0

    async def send(self, events: list[h11.Event], timeout: float | None) -> None:
        self.writer.write(b"".join(self.protocol.send(e) or b"" for e in events))
        async with asyncio.timeout(timeout):
            await self.writer.drain()

    async def next_event(self, timeout: float | None) -> h11.Event:
        while (event := self.protocol.next_event()) is h11.NEED_DATA:
            async with asyncio.timeout(timeout):
                self.protocol.receive_data(await self.reader.read(READ_SIZE))
        return event

    def finish(self) -> bool:
        """After a whole exchange: ready the connection for the next one, if it can be."""
        if self.protocol.our_state is h11.DONE and self.protocol.their_state is h11.DONE:
            self.protocol.start_next_cycle()
            return not self.reader.at_eof()
        return False

    def close(self) -> None:
        self.writer.close()


@dataclass
class _Pool:
    """One origin's connections: at most ``slots`` in use, the idle ones kept for reuse."""

    origin: Origin
    slots: asyncio.Semaphore
    in_use: int = 0  # requests holding or waiting for a slot
    idle: list[_Connection] = field(default_factory=list)


@contextlib.contextmanager
def _as_httpx_errors(
    request: httpx.Request,
    timeout: type[httpx.TimeoutException],
    failure: type[httpx.TransportError],
) -> Iterator:
    try:
        yield
    except TimeoutError as exc:
        raise timeout(f"timed out: {request.url.host}", request=request) from exc
    except h11.RemoteProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except h11.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc), request=request) from exc
    except OSError as exc:
        raise failure(f"{type(exc).__name__}: {exc}", request=request) from exc


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """``allow_networks`` admits addresses the policy refuses (the stand-ins' 127.0.0.0/8);
    ``resolver`` answers a host's addresses (the system's by default)."""

    def __init__(
        self,
        max_connections: int = 50,
        ssl_context: ssl.SSLContext | None = None,
        allow_networks: Iterable[Network] = (),
        resolver: Resolver = system_resolver,
    ) -> None:
        self.max_connections = max_connections
        self.ssl_context = ssl_context or httpx.create_ssl_context()
        self.allow_networks = tuple(allow_networks)
        self.resolver = resolver
        self._pools: dict[Origin, _Pool] = {}
        self._idle: OrderedDict[_Connection, None] = OrderedDict()  # oldest first

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}", request=request)
        # The host as sent in the Host header: IDNA-encoded, as httpx wrote it.
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        guarded = not request.extensions.get(CONFIGURED_DESTINATION)
        origin = (url.scheme, host, port, guarded)
        self._expire(time.monotonic() - KEEPALIVE_EXPIRY)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(origin, asyncio.Semaphore(self.max_connections))
        timeouts = request.extensions.get("timeout", {})
        pool.in_use += 1
        try:
            try:
                async with asyncio.timeout(timeouts.get("pool")):
                    await pool.slots.acquire()
            except TimeoutError as exc:
                raise httpx.PoolTimeout("no connection free", request=request) from exc
            try:
                conn, head = await self._exchange(request, pool, timeouts)
            except BaseException:
                pool.slots.release()
                raise
        except BaseException:
            pool.in_use -= 1
            self._done_with(pool)
            raise
        return httpx.Response(
            head.status_code,
            headers=head.headers,
            stream=_Body(self, conn, pool, timeouts.get("read"), request),
            extensions={"http_version": b"HTTP/" + head.http_version, "reason_phrase": head.reason},
        )

    async def _exchange(
        self, request: httpx.Request, pool: _Pool, timeouts: dict
    ) -> tuple[_Connection, h11.Response]:
        """Send the request and read the response's head, on an idle connection if one
        is left; an idle connection the server closed as it was taken is replaced once."""
        body = await request.aread()
        events = [
            h11.Request(
                method=request.method, target=request.url.raw_path, headers=request.headers.raw
            ),
            *([h11.Data(data=body)] if body else []),
            h11.EndOfMessage(),
        ]
        while True:
            conn = self._take_idle(pool)
            reused = conn is not None
            conn = conn or await self._connect(request, pool.origin, timeouts)
            try:
                with _as_httpx_errors(request, httpx.WriteTimeout, httpx.WriteError):
                    await conn.send(events, timeouts.get("write"))
                with _as_httpx_errors(request, httpx.ReadTimeout, httpx.ReadError):
                    while not isinstance(
                        event := await conn.next_event(timeouts.get("read")), h11.Response
                    ):
                        if isinstance(event, h11.ConnectionClosed):
                            raise httpx.RemoteProtocolError(
                                "server closed the connection without answering", request=request
                            )
                return conn, event
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                conn.close()
                if not (reused and request.method in IDEMPOTENT):
                    raise
            except BaseException:
                conn.close()
                raise

    def _take_idle(self, pool: _Pool) -> _Connection | None:
        while pool.idle:
            conn = pool.idle.pop()
            del self._idle[conn]
            conn.reader.idle = False
            if not conn.reader.stale:
                return conn
            conn.close()
        return None

    def _release(self, conn: _Connection, pool: _Pool, reusable: bool) -> None:
        """A response is done with its connection: keep it idle for the next, or close it."""
        if reusable and not conn.reader.stale:
            conn.reader.idle = True
            conn.idle_since = time.monotonic()
            pool.idle.append(conn)
            self._idle[conn] = None
            while len(self._idle) > MAX_IDLE:
                self._close_idle(next(iter(self._idle)))
        else:
            conn.close()
        pool.slots.release()
        self._done_with(pool)

    def _expire(self, before: float) -> None:
        while self._idle and (oldest := next(iter(self._idle))).idle_since < before:
            self._close_idle(oldest)

    def _close_idle(self, conn: _Connection) -> None:
        del self._idle[conn]
        pool = self._pools[conn.origin]
        pool.idle.remove(conn)
        conn.close()
        self._done_with(pool)

    def _done_with(self, pool: _Pool) -> None:
        """Forget an origin once it has no connection left."""
        if pool.in_use == 0 and not pool.idle and self._pools.get(pool.origin) is pool:
            del self._pools[pool.origin]

    async def _connect(self, request: httpx.Request, origin: Origin, timeouts: dict) -> _Connection:
        scheme, host, port, guarded = origin
        tls = self.ssl_context if scheme == "https" else None
        loop = asyncio.get_running_loop()
        reader = _Reader(limit=READ_SIZE, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                addresses = await self._addresses(request, host, port, guarded)
                transport = await self._open(protocol, addresses, port, tls, host)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port}", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return _Connection(origin, reader, asyncio.StreamWriter(transport, protocol, reader, loop))

    @staticmethod
    async def _open(
        protocol: asyncio.Protocol,
        addresses: list[Address],
        port: int,
        tls: ssl.SSLContext | None,
        host: str,
    ) -> asyncio.BaseTransport:
        """Connect to the first of ``addresses`` that accepts, speaking TLS to ``host``."""
        loop = asyncio.get_running_loop()
        failure = None
        for address in addresses:
            try:
                transport, _ = await loop.create_connection(
                    lambda: protocol,
                    str(address),
                    port,
                    ssl=tls,
                    server_hostname=host if tls else None,
                )
                return transport
            except ssl.SSLError:
                raise  # the host's certificate, not this address, is at fault
            except OSError as exc:
                failure = exc
        raise failure

    async def _addresses(
        self, request: httpx.Request, host: str, port: int, guarded: bool
    ) -> list[Address]:
        """Where to connect: the host itself when it is an address, else what it resolves
        to, less (when ``guarded``) what the address policy refuses."""
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = [ipaddress.ip_address(a) for a in await self.resolver(host, port)]
        if not guarded:
            return addresses
        refusals = [refusal(address, self.allow_networks) for address in addresses]
        admitted = [a for a, refused in zip(addresses, refusals, strict=True) if refused is None]
        if not admitted:
            named = "" if str(addresses[0]) == host else f"{host} is "
            raise AddressRefused(
                f"private address: {named}{addresses[0]} ({refusals[0]})", request=request
            )
        return admitted

    async def aclose(self) -> None:
        for conn in list(self._idle):
            self._close_idle(conn)


class _Body(httpx.AsyncByteStream):
    """A response body read as it is consumed; closing it returns the connection to its pool,
    or closes the connection when the body was not read to its end."""

    def __init__(
        self,
        transport: KeepAliveTransport,
        conn: _Connection,
        pool: _Pool,
        timeout: float | None,
        request: httpx.Request,
    ) -> None:
        self.transport = transport
        self.conn = conn
        self.pool = pool
        self.timeout = timeout
        self.request = request
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors(self.request, httpx.ReadTimeout, httpx.ReadError):
            while True:
                event = await self.conn.next_event(self.timeout)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    return

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            self.pool.in_use -= 1
            self.transport._release(self.conn, self.pool, self.conn.finish())


# One client serves every webhook: it keeps no cookies, so one lead's website
# cannot set what another's request sends, and no jar grows with the sites scraped.
_NO_COOKIES = http.cookiejar.DefaultCookiePolicy(allowed_domains=[])


def client(max_connections: int = 50, allow_networks: Iterable[Network] = ()) -> httpx.AsyncClient:
    """The client the providers call through (the receiver's one, shared by its webhooks)."""
    return httpx.AsyncClient(
        transport=KeepAliveTransport(max_connections, allow_networks=allow_networks),
        follow_redirects=False,
        cookies=http.cookiejar.CookieJar(policy=_NO_COOKIES),
    )
