"""A tiny round-robin HTTP/1.1 proxy on loopback, standing in for the load
balancer in front of several receivers.

Each client connection is paired with a connection to the next backend in
turn, and requests are relayed one at a time, so the proxy can keep the same
ledger as the fault sink: the webhook-id of every request, and whether the
receiver answered it with a 2xx. A backend that drops a connection drops the
client's too: the delivery side sees an honest failed attempt.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

from .loopback import HOST, LoopbackServer, read_message


class RoundRobinProxy(LoopbackServer):
    def __init__(self, backends: list[int]) -> None:
        super().__init__()
        self.backends = backends
        self.per_backend: Counter[int] = Counter()  # requests relayed to each port
        self._next = itertools.cycle(backends)

    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = next(self._next)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while (request := await read_message(reader)) is not None:
                if upstream is None or upstream[0].at_eof():
                    # The receiver closes idle keep-alive connections: open another.
                    if upstream is not None:
                        upstream[1].transport.abort()
                    upstream = await asyncio.open_connection(HOST, port)
                webhook_id = request.headers.get("webhook-id", "")
                self.ledger.arrived(webhook_id)
                self.per_backend[port] += 1
                upstream[1].write(request.raw)
                await upstream[1].drain()
                response = await read_message(upstream[0])
                if response is None:
                    return
                writer.write(response.raw)
                await writer.drain()
                self.ledger.answered(webhook_id, response.status)
        finally:
            if upstream is not None:
                upstream[1].transport.abort()
