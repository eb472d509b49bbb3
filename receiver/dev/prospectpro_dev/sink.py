"""The scripted loopback HTTP/1.1 server of the tests and the fault suite.

It records every request (``received``, and per webhook-id in ``ledger``) and
answers each as its ``Answer`` says: a response, or a delay, a hang, a reset
connection, a hang-up, or raw bytes. Answers come from ``respond(request)``
when that is given and returns one, else from the queue (``answer()``), then
the cycle (``cycle()``), then ``default``. ``down()`` refuses new connections
and drops the open ones; ``up()`` listens again on the same port.

Framing is h11's; an event loop in a thread of its own serves every connection,
so a thousand hung connections cost nothing. (bench/fastsink.py is the raw fast
path for capacity figures; this one is for behaviour.)
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import inspect
import itertools
import socket
import ssl
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Self

import h11

from .processes import wait_until

HOST = "127.0.0.1"
CALL_TIMEOUT = 10.0  # for up(), down() and run() from the caller's thread


@dataclass(frozen=True)
class Answer:
    """How to answer one request: after ``delay`` seconds, the response
    ``status``, ``headers`` and ``body`` (content-type JSON and content-length
    added unless given), or instead:

    hang    never answer: hold the connection until the client or down() drops it
    reset   a TCP RST: True (or "before") instead of answering, "head" after the
            status line, "body" inside the body
    hangup  a FIN: "before" instead of answering, "after" once answered, without
            a ``connection: close`` to warn the client
    raw     bytes written as they are (a tuple: bytes, and seconds to wait between
            them): a framing or a misbehaviour h11 will not produce, for tests of
            HTTP clients
    """

    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool | Literal["before", "head", "body"] = False
    body: bytes = b'{"ok":true}'
    hang: bool = False
    hangup: Literal["before", "after"] | None = None
    raw: bytes | tuple[bytes | float, ...] | None = None


@dataclass(frozen=True)
class Received:
    at: float  # time.time() once the whole request arrived
    path: str  # the request target, with its query string
    headers: dict[str, str]  # names lower-cased
    body: bytes
    method: str = "POST"


Respond = Callable[[Received], "Answer | Awaitable[Answer | None] | None"]


class Ledger:
    """Per webhook-id: requests received, 2xx answers written, first arrival; and
    when the latest 2xx answer was written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.acked: Counter[str] = Counter()
        self.first: dict[str, float] = {}
        self.last_acked = 0.0

    def arrived(self, webhook_id: str) -> None:
        with self._lock:
            self.requests[webhook_id] += 1
            self.first.setdefault(webhook_id, time.time())

    def answered(self, webhook_id: str, status: int) -> None:
        if 200 <= status < 300:
            with self._lock:
                self.acked[webhook_id] += 1
                self.last_acked = time.time()

    def total(self) -> int:
        with self._lock:
            return self.requests.total()

    def seen(self, webhook_ids: list[str]) -> int:
        with self._lock:
            return sum(1 for w in webhook_ids if w in self.requests)


class Sink:
    """``with Sink() as sink:`` serves on 127.0.0.1 (``port`` 0: a free one)
    until the block ends; ``tls``, a server SSLContext, makes it HTTPS."""

    def __init__(
        self,
        host: str = HOST,
        port: int = 0,
        *,
        respond: Respond | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.respond = respond
        self.received: list[Received] = []
        self.ledger = Ledger()
        self.script: deque[Answer] = deque()
        self.default = Answer()
        self.connections = 0  # accepted
        self.closed_by_client = 0  # connections the client closed between requests
        self._cycle: Iterator[Answer] | None = None
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._open: dict[asyncio.StreamWriter, asyncio.Task] = {}

    # -- from the caller's thread ------------------------------------------
    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base + "/hook"

    def answer(self, *answers: Answer) -> None:
        """Queue answers for the next requests, in order."""
        with self._lock:
            self.script.extend(answers)

    def cycle(self, *answers: Answer) -> None:
        """Once the queue is empty, answer with these in turn, over and over;
        none: back to ``default``."""
        with self._lock:
            self._cycle = itertools.cycle(answers) if answers else None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until ``count`` requests arrived; returns them all."""
        try:
            wait_until(lambda: len(self.received) >= count, timeout, interval=0.01)
        except TimeoutError:
            raise TimeoutError(f"sink got {len(self.received)} of {count} requests") from None
        return list(self.received)

    def run(self, coro: Awaitable):
        """Run a coroutine on the sink's event loop; returns its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT)

    def up(self) -> None:
        """Listen (again, on the same port once it is known)."""
        self.run(self._listen())

    def down(self) -> None:
        """Refuse new connections and drop the open ones."""
        self.run(self._close())

    def __enter__(self) -> Self:
        self._thread.start()
        try:
            self.up()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CALL_TIMEOUT)
        self._loop.close()

    # -- in the loop -------------------------------------------------------
    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve, self.host, self.port, ssl=self.tls, reuse_address=True
            )
            self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        tasks = list(self._open.values())
        for writer, task in list(self._open.items()):
            writer.transport.abort()
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._open[writer] = asyncio.current_task()
        try:
            await self._converse(reader, writer)
            writer.close()
        except (asyncio.CancelledError, ConnectionError, OSError, h11.ProtocolError):
            writer.transport.abort()
        except Exception:
            writer.transport.abort()  # a failing respond(): the client is not left waiting
            raise
        finally:
            self._open.pop(writer, None)

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The whole life of one connection; returning closes it with a FIN."""
        conn = h11.Connection(h11.SERVER)
        while (request := await self._request(conn, reader)) is not None:
            webhook_id = request.headers.get("webhook-id", "")
            self.received.append(request)
            self.ledger.arrived(webhook_id)
            answer = await self._choose(request)
            if answer.delay:
                await asyncio.sleep(answer.delay)
            if answer.hang:
                while await reader.read(65536):
                    pass  # until the client gives up
                return
            if answer.hangup == "before":
                return
            if answer.reset in (True, "before"):
                _reset(writer)
                return
            if answer.raw is not None:
                steps = (answer.raw,) if isinstance(answer.raw, bytes) else answer.raw
                for step in steps:
                    if isinstance(step, bytes):
                        writer.write(step)
                        await writer.drain()
                    else:
                        await asyncio.sleep(step)
                # h11 did not see that answer: go on with a fresh state machine.
                leftover, _ = conn.trailing_data
                conn = h11.Connection(h11.SERVER)
                if leftover:  # (no data at all would mean the end of the stream)
                    conn.receive_data(leftover)
            else:
                head, body = _frame(conn, request, answer)
                if answer.reset:  # cut after the status line, or halfway through the body
                    end = head.index(b"\r\n") + 2 if answer.reset == "head" else len(head)
                    end += len(body) // 2 if answer.reset == "body" else 0
                    writer.write((head + body)[:end])
                    await writer.drain()
                    await asyncio.sleep(0.01)  # let the partial answer reach the client first
                    _reset(writer)
                    return
                writer.write(head + body)
                await writer.drain()
                self.ledger.answered(webhook_id, answer.status)
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
            if answer.hangup == "after":
                return

    async def _request(self, conn: h11.Connection, reader: asyncio.StreamReader) -> Received | None:
        """The next whole request, or None when the client closed between requests."""
        head, body = None, bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                headers = {name.decode(): value.decode("latin-1") for name, value in head.headers}
                return Received(
                    time.time(), head.target.decode(), headers, bytes(body), head.method.decode()
                )
            elif isinstance(event, h11.ConnectionClosed):
                self.closed_by_client += 1
                return None

    async def _choose(self, request: Received) -> Answer:
        if self.respond is not None:
            answer = self.respond(request)
            if inspect.isawaitable(answer):
                answer = await answer
            if answer is not None:
                return answer
        with self._lock:
            if self.script:
                return self.script.popleft()
            return next(self._cycle) if self._cycle is not None else self.default


def _frame(conn: h11.Connection, request: Received, answer: Answer) -> tuple[bytes, bytes]:
    """The response's head and its body (with its framing), as h11 writes them."""
    given = {name.lower() for name in answer.headers}
    bodyless = request.method == "HEAD" or answer.status in (204, 304)
    body = b"" if bodyless else answer.body
    headers = list(answer.headers.items())
    if "content-type" not in given:
        headers.append(("content-type", "application/json"))
    if not given & {"content-length", "transfer-encoding"}:
        headers.append(("content-length", str(len(body))))
    try:
        reason = http.HTTPStatus(answer.status).phrase.encode()
    except ValueError:
        reason = b""
    head = conn.send(h11.Response(status_code=answer.status, headers=headers, reason=reason))
    data = conn.send(h11.Data(data=body)) if body else b""
    return head, data + conn.send(h11.EndOfMessage())


def _reset(writer: asyncio.StreamWriter) -> None:
    """Drop a connection with a TCP RST (linger 0) rather than a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
