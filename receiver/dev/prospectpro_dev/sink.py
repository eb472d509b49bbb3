"""A loopback webhook sink for tests, benchmarks and fault runs.

It records every request it receives and answers as it is told: a script of
responses is consumed one per request (status, delay, extra headers, or a
reset connection), then the default answer (200) applies.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Answer:
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # close the connection instead of answering
    body: bytes = b'{"ok":true}'


@dataclass(frozen=True)
class Received:
    at: float  # time.time() on arrival
    path: str
    headers: dict[str, str]
    body: bytes


class Sink:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.received: list[Received] = []
        self.script: deque[Answer] = deque()
        self.default = Answer()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def answer(self, *answers: Answer) -> None:
        """Queue answers for the next requests, in order."""
        with self._lock:
            self.script.extend(answers)

    def _next_answer(self) -> Answer:
        with self._lock:
            return self.script.popleft() if self.script else self.default

    def _record(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until ``count`` requests arrived; returns them all."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sink got {len(self.received)} of {count} requests")
            time.sleep(0.01)
        return list(self.received)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                sink._record(Received(time.time(), self.path, headers, body))
                answer = sink._next_answer()
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.reset:
                    # RST instead of FIN: linger 0 then close.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
