"""The send phase's candidates (issue 22), by the client's CPU per webhook POST:
rounds of 100 POSTs over at most 16 keep-alive connections to the fast sink,
measured in the calling thread (as a delivery round's send phase is), for

- the extension's transport (h11 over asyncio streams, delivery_transport.py);
- one synchronous loop driving h11 over non-blocking sockets (selectors), a
  sketch of the alternative for plain HTTP only: no TLS, timeouts or errors;
- httpcore's asyncio connection pool.

Opt-in (--only transports): it measures a design choice, not the product.
"""

from __future__ import annotations

import asyncio
import selectors
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import h11
import httpcore

from .common import Bench, Result, median, step
from .fastsink import FastSink

# The extension's package, from this checkout (as the tests import it).
sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "plpython"))
from prospectpro_pl.delivery_transport import Request, Transport

POSTS, CONNECTIONS = 100, 16
BODY = b'{"lead_id": 1, "campaign_id": 2, "webhook_type": "lead_enrichment", "n": 1}'
HEADERS = {
    "content-type": "application/json",
    "authorization": "Bearer token",
    "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
    "webhook-timestamp": "1700000000",
    "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
}


def extension_transport(url: str) -> Callable[[], list[int]]:
    transport = Transport()
    requests = [
        Request(url=url, headers=HEADERS, body=BODY, timeout=10, max_connections=CONNECTIONS)
        for _ in range(POSTS)
    ]
    return lambda: [o.http_status for o in transport.post_all(requests, 2.0)]


def synchronous_h11(url: str) -> Callable[[], list[int]]:
    parts = urlsplit(url)
    head = h11.Request(
        method=b"POST",
        target=parts.path.encode(),
        headers=[
            (b"host", parts.netloc.encode()),
            *((k.encode(), v.encode()) for k, v in HEADERS.items()),
            (b"content-length", b"%d" % len(BODY)),
        ],
    )
    idle: list[tuple[socket.socket, h11.Connection]] = []
    selector = selectors.DefaultSelector()

    def send(conn: tuple[socket.socket, h11.Connection]) -> None:
        sock, protocol = conn
        message = protocol.send(head) + protocol.send(h11.Data(data=BODY))
        sock.sendall(message + protocol.send(h11.EndOfMessage()))
        selector.register(sock, selectors.EVENT_READ, conn)

    def connection() -> tuple[socket.socket, h11.Connection]:
        if idle:
            return idle.pop()
        sock = socket.create_connection((parts.hostname, parts.port))
        sock.setblocking(False)
        return sock, h11.Connection(h11.CLIENT)

    def post_all() -> list[int]:
        statuses: list[int] = []
        waiting = POSTS
        for _ in range(min(CONNECTIONS, waiting)):
            send(connection())
            waiting -= 1
        while len(statuses) < POSTS:
            for key, _ in selector.select(10):
                sock, protocol = key.data
                protocol.receive_data(sock.recv(65536))
                while (event := protocol.next_event()) is not h11.NEED_DATA:
                    if isinstance(event, h11.Response):
                        statuses.append(event.status_code)
                    elif isinstance(event, h11.EndOfMessage):
                        selector.unregister(sock)
                        protocol.start_next_cycle()
                        if waiting:
                            send(key.data)
                            waiting -= 1
                        else:
                            idle.append(key.data)
                        break
        return statuses

    return post_all


def httpcore_pool(url: str) -> Callable[[], list[int]]:
    loop = asyncio.new_event_loop()
    pool = httpcore.AsyncConnectionPool(max_connections=CONNECTIONS)

    async def post() -> int:
        return (await pool.request("POST", url, headers=HEADERS, content=BODY)).status

    async def post_all() -> list[int]:
        return list(await asyncio.gather(*(post() for _ in range(POSTS))))

    return lambda: loop.run_until_complete(post_all())


CANDIDATES = {
    "h11 + asyncio (the extension's)": extension_transport,
    "h11, synchronous loop (sketch)": synchronous_h11,
    "httpcore, asyncio pool": httpcore_pool,
}


def run(bench: Bench) -> list[Result]:
    rounds = 10 if bench.quick else 60
    step(f"transports: {rounds} rounds of {POSTS} POSTs each, {CONNECTIONS} connections")
    figures = {}
    with FastSink() as sink:
        for name, make in CANDIDATES.items():
            post_all = make(sink.url)
            post_all()  # connections opened
            per_post = []
            for _ in range(rounds):
                started = time.thread_time()
                statuses = post_all()
                per_post.append((time.thread_time() - started) / POSTS * 1e6)
                if statuses != [200] * POSTS:
                    raise RuntimeError(f"{name}: not every POST answered 200")
            figures[name] = median(per_post)
            step(f"  {name}: {figures[name]:.0f} µs CPU per POST")
    return [
        Result(f"send path: {name}", f"{us:.0f} µs CPU per POST", data={"per_post_us": us})
        for name, us in figures.items()
    ]
