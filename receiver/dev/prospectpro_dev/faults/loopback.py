"""Loopback HTTP/1.1 plumbing for the fault suite: message framing, a ledger of
what arrived, and a listener that can be taken down (connections refused, open
ones dropped) and brought back on the same port.

Only what the delivery transport and the receiver speak is understood:
Content-Length bodies on keep-alive connections, no chunking, no pipelining.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass

HOST = "127.0.0.1"
CALL_TIMEOUT = 10.0


@dataclass(frozen=True)
class Message:
    start: str  # request or status line
    headers: dict[str, str]  # names lower-cased
    raw: bytes  # the whole message as received, to forward verbatim

    @property
    def status(self) -> int:
        return int(self.start.split()[1])


async def read_message(reader: asyncio.StreamReader) -> Message | None:
    """The next message, or None when the peer closed between messages."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ConnectionError("connection closed mid-message") from None
        return None
    start, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise ConnectionError("chunked messages are not supported here")
    body = await reader.readexactly(int(headers.get("content-length", 0)))
    return Message(start, headers, head + body)


def reset(writer: asyncio.StreamWriter) -> None:
    """Drop a connection with a TCP RST (linger 0) rather than a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Ledger:
    """Per webhook-id: requests received, 2xx answers given, first arrival; and
    when the latest 2xx answer was given."""

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


class LoopbackServer:
    """A listener on 127.0.0.1 served by an event loop in a thread of its own.

    Subclasses implement ``converse``: the whole life of one connection.
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.ledger = Ledger()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def url(self, path: str = "/hook") -> str:
        return f"http://{HOST}:{self.port}{path}"

    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    # -- from the caller's thread ------------------------------------------
    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT)

    def up(self) -> None:
        """Listen (again, on the same port once it is known)."""
        self._call(self._listen())

    def down(self) -> None:
        """Refuse new connections and drop the open ones."""
        self._call(self._close())

    def __enter__(self):
        self._thread.start()
        self.up()
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
                self._serve, HOST, self.port, reuse_address=True
            )
            self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self.converse(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
