"""A minimal loopback webhook sink for the benchmarks: raw HTTP/1.1 on asyncio.

    python -m prospectpro_dev.bench.fastsink [--port 0]    prints its URL, then serves

Every request is answered 200 at once, over keep-alive connections, and
recorded: its arrival time and the number after ``"n":`` (or ``"lead_id":``)
in its body (the benchmarks number their events). prospectpro_dev.sink.Sink, the scripted
server of the tests and faults (h11 framing, a script per request), answered
about 9,000 requests/s on the 2-core build machine with 16 pipelining clients,
this one about 140,000: the delivery figures must not measure the sink.

Control paths, not counted as webhooks:
    GET  /__stats     {"requests", "max_connections", "connections"}: connections
                      that carried webhooks, open now and at most at once
    GET  /__arrivals  [[n, arrival], ...] in arrival order (n null when absent)
    POST /__take      the same, forgotten once returned (a long run's memory stays flat)
    POST /__reset     forget the requests and reset the connection high-water mark

``FastSink`` runs it in a subprocess; ``capacity()`` measures its own request rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
from subprocess import PIPE

import httpx

from ..processes import spawn, wait_until

OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
HEAD_END = b"\r\n\r\n"
CONTENT_LENGTH = re.compile(rb"(?im)^content-length:[ \t]*(\d+)")
CLOSE = re.compile(rb"(?im)^connection:[ \t]*close")
NUMBER = re.compile(rb'"(?:n|lead_id)": ?(\d+)')


class State:
    def __init__(self) -> None:
        self.arrivals: list[tuple[int | None, float]] = []
        self.connections = 0
        self.max_connections = 0

    def reset(self) -> None:
        self.arrivals = []
        self.max_connections = self.connections

    def control(self, method: bytes, path: bytes) -> bytes:
        if path == b"/__stats":
            body = {
                "requests": len(self.arrivals),
                "max_connections": self.max_connections,
                "connections": self.connections,
            }
        elif path == b"/__arrivals":
            body = self.arrivals
        elif path == b"/__take" and method == b"POST":
            body, self.arrivals = self.arrivals, []
        elif path == b"/__reset" and method == b"POST":
            self.reset()
            body = {"reset": True}
        else:
            return b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
        text = json.dumps(body).encode()
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(text)}"
        return head.encode() + HEAD_END + text


class Connection(asyncio.Protocol):
    def __init__(self, state: State) -> None:
        self.state = state
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.counted = False  # counted once it carries a webhook (not control requests)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.counted:
            self.state.connections -= 1

    def _count(self) -> None:
        self.counted = True
        self.state.connections += 1
        self.state.max_connections = max(self.state.max_connections, self.state.connections)

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        self.buffer += data
        while (end := self.buffer.find(HEAD_END)) >= 0:
            head = self.buffer[:end]
            length = CONTENT_LENGTH.search(head)
            total = end + 4 + (int(length[1]) if length else 0)
            if len(self.buffer) < total:
                return
            body, self.buffer = self.buffer[end + 4 : total], self.buffer[total:]
            method, path, _ = head.split(b" ", 2)
            if path.startswith(b"/__"):
                self.transport.write(self.state.control(method, path))
            else:
                if not self.counted:
                    self._count()
                number = NUMBER.search(body)
                self.state.arrivals.append((int(number[1]) if number else None, arrived))
                self.transport.write(OK)
            if CLOSE.search(head):
                self.transport.close()
                return


async def serve(port: int) -> None:
    state = State()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Connection(state), "127.0.0.1", port, backlog=1024, reuse_address=True
    )
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


class FastSink:
    """The sink in a subprocess: ``with FastSink() as sink: sink.url ...``."""

    def __enter__(self) -> FastSink:
        self.proc = spawn("prospectpro_dev.bench.fastsink", "--port", "0", stdout=PIPE, text=True)
        base = self.proc.stdout.readline().strip()
        if not base:
            self.proc.kill()
            raise RuntimeError("the fast sink did not start")
        self.base = base
        self.url = base + "/hook"
        self.http = httpx.Client(base_url=base, timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        self.proc.stop(timeout=10)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stats(self) -> dict:
        return self.http.get("/__stats").json()

    def arrivals(self) -> list[tuple[int | None, float]]:
        return [tuple(item) for item in self.http.get("/__arrivals").json()]

    def take(self) -> list[tuple[int | None, float]]:
        """The arrivals since the last take (or reset), which the sink then forgets."""
        return [tuple(item) for item in self.http.post("/__take").json()]

    def reset(self) -> None:
        self.http.post("/__reset")

    def wait_for(self, count: int, timeout: float) -> dict:
        def reached() -> dict | None:
            stats = self.stats()
            return stats if stats["requests"] >= count else None

        return wait_until(reached, timeout, interval=0.05, what=f"{count} requests at the sink")


def capacity(url: str, connections: int = 16, seconds: float = 2.0, depth: int = 8) -> int:
    """Requests answered in ``seconds`` by ``connections`` raw keep-alive clients.

    Each client pipelines ``depth`` requests, so that the client's own cost per
    request stays small next to the sink's.
    """
    host, port = url.split("//")[1].split("/")[0].split(":")
    request = (
        b"POST /hook HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        b'content-length: 8\r\n\r\n{"n": 0}'
    )

    async def client(stop: float) -> int:
        reader, writer = await asyncio.open_connection(host, int(port))
        done = 0
        while time.monotonic() < stop:
            writer.write(request * depth)
            await reader.readexactly(len(OK) * depth)
            done += depth
        writer.close()
        return done

    async def run() -> int:
        stop = time.monotonic() + seconds
        return sum(await asyncio.gather(*(client(stop) for _ in range(connections))))

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m prospectpro_dev.bench.fastsink")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
