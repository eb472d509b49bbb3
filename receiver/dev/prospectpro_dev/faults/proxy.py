"""A round-robin HTTP/1.1 proxy on loopback, standing in for the load balancer
in front of several receivers: the sink, answering each request with what the
next backend in turn answered, so it keeps the same ledger as for a scripted
answer (the webhook-id of every request, and whether it was answered 2xx). A
backend that fails the request resets the client's connection: the delivery
side sees an honest failed attempt.
"""

from __future__ import annotations

import itertools
from collections import Counter

import httpx

from ..sink import HOST, Answer, Received, Sink

# Per connection, not end to end: the proxy frames each side itself.
HOP_BY_HOP = {"connection", "keep-alive", "host", "content-length", "transfer-encoding"}
BACKEND_TIMEOUT = 30.0


class RoundRobinProxy(Sink):
    def __init__(self, backends: list[int]) -> None:
        super().__init__(respond=self._forward)
        self.backends = backends
        self.per_backend: Counter[int] = Counter()  # requests relayed to each port
        self._next = itertools.cycle(backends)
        self._http: httpx.AsyncClient | None = None  # made in the sink's loop

    async def _forward(self, request: Received) -> Answer:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=BACKEND_TIMEOUT)
        port = next(self._next)
        self.per_backend[port] += 1
        try:
            response = await self._http.request(
                request.method,
                f"http://{HOST}:{port}{request.path}",
                headers={k: v for k, v in request.headers.items() if k not in HOP_BY_HOP},
                content=request.body,
            )
        except httpx.TransportError:
            return Answer(reset=True)
        headers = {
            k: v for k, v in response.headers.items() if k not in HOP_BY_HOP | {"content-encoding"}
        }
        return Answer(response.status_code, headers=headers, body=response.content)

    def __exit__(self, *exc: object) -> None:
        self.down()  # no request in flight any more
        if self._http is not None:
            self.run(self._http.aclose())
        super().__exit__(*exc)
