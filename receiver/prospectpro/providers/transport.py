"""The providers' HTTP transport: HTTP/1.1 keep-alive over asyncio streams, for httpx.

httpx's own transport (httpcore) spent about 1 ms of CPU per request with 50
webhooks in flight, more than all the rest of a webhook: its pool scans every
connection and takes anyio locks on each request. This one keeps, per origin,
a stack of idle connections and a bound on the connections in use, and lets
h11 speak the protocol. The providers still use httpx's client: requests,
redirects, streamed bodies and its exceptions are unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import h11
import httpx

READ_SIZE = 64 * 1024
IDEMPOTENT = {"GET", "HEAD", "OPTIONS"}


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = h11.Connection(h11.CLIENT)

    @property
    def reusable(self) -> bool:
        return not self.reader.at_eof() and self.protocol.our_state is h11.IDLE

    async def send(self, *events: h11.Event, timeout: float | None) -> None:
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
            return True
        return False

    def close(self) -> None:
        self.writer.close()


@dataclass
class _Pool:
    """One origin's connections: at most ``slots`` in use, the idle ones kept for reuse."""

    slots: asyncio.Semaphore
    idle: list[_Connection] = field(default_factory=list)


@contextlib.contextmanager
def _as_httpx_errors(request: httpx.Request, timeout: type[httpx.TimeoutException]) -> Iterator:
    try:
        yield
    except TimeoutError as exc:
        raise timeout(f"timed out: {request.url.host}", request=request) from exc
    except h11.ProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except OSError as exc:
        raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc


class KeepAliveTransport(httpx.AsyncBaseTransport):
    def __init__(
        self, max_connections: int = 50, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.max_connections = max_connections
        self.ssl_context = ssl_context or httpx.create_ssl_context()
        self._pools: dict[tuple[str, str, int], _Pool] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}", request=request)
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(asyncio.Semaphore(self.max_connections))
        timeouts = request.extensions.get("timeout", {})
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await pool.slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("no connection free", request=request) from exc
        try:
            conn, head = await self._exchange(request, origin, pool, timeouts)
        except BaseException:
            pool.slots.release()
            raise
        body = _Body(conn, pool, timeouts.get("read"), request)
        return httpx.Response(
            head.status_code,
            headers=head.headers,
            stream=body,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    async def _exchange(
        self, request: httpx.Request, origin: tuple[str, str, int], pool: _Pool, timeouts: dict
    ) -> tuple[_Connection, h11.Response]:
        """Send the request and read the response's head, on an idle connection if one
        is left; an idle connection the server had closed is replaced once."""
        body = await request.aread()
        events = [
            h11.Request(
                method=request.method, target=request.url.raw_path, headers=request.headers.raw
            ),
            *([h11.Data(data=body)] if body else []),
            h11.EndOfMessage(),
        ]
        while True:
            conn = None
            while pool.idle and conn is None:
                conn = pool.idle.pop()
                if not conn.reusable:  # the server closed it while it was idle
                    conn.close()
                    conn = None
            reused = conn is not None
            conn = conn or await self._connect(request, origin, timeouts)
            try:
                with _as_httpx_errors(request, httpx.WriteTimeout):
                    await conn.send(*events, timeout=timeouts.get("write"))
                with _as_httpx_errors(request, httpx.ReadTimeout):
                    while not isinstance(
                        event := await conn.next_event(timeouts.get("read")), h11.Response
                    ):
                        if isinstance(event, h11.ConnectionClosed):
                            raise httpx.RemoteProtocolError(
                                "server closed the connection without answering", request=request
                            )
                return conn, event
            except (httpx.RemoteProtocolError, httpx.ReadError):
                conn.close()
                if not (reused and request.method in IDEMPOTENT):
                    raise
            except BaseException:
                conn.close()
                raise

    async def _connect(
        self, request: httpx.Request, origin: tuple[str, str, int], timeouts: dict
    ) -> _Connection:
        scheme, host, port = origin
        tls = self.ssl_context if scheme == "https" else None
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=host if tls else None, limit=READ_SIZE
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port}", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            for conn in pool.idle:
                conn.close()
            pool.idle.clear()


class _Body(httpx.AsyncByteStream):
    """A response body read as it is consumed; closing it returns the connection to its pool,
    or closes the connection when the body was not read to its end."""

    def __init__(
        self, conn: _Connection, pool: _Pool, timeout: float | None, request: httpx.Request
    ) -> None:
        self.conn = conn
        self.pool = pool
        self.timeout = timeout
        self.request = request
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors(self.request, httpx.ReadTimeout):
            while True:
                event = await self.conn.next_event(self.timeout)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    return

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.conn.finish() and self.conn.reusable:
            self.pool.idle.append(self.conn)
        else:
            self.conn.close()
        self.pool.slots.release()


def client(max_connections: int = 50) -> httpx.AsyncClient:
    """The client the providers call through (the receiver's one, shared by its webhooks)."""
    return httpx.AsyncClient(
        transport=KeepAliveTransport(max_connections=max_connections), follow_redirects=False
    )
