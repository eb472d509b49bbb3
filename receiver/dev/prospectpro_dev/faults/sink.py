"""A fault-injecting webhook sink: answers each request as its script says
(status, headers, delay, or a reset before, inside the head, or inside the
body of the response) and keeps a ledger of every webhook-id it saw."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Literal

from .loopback import LoopbackServer, read_message, reset

Reset = Literal["before", "head", "body"]


@dataclass(frozen=True)
class Fault:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: Reset | None = None  # where the connection is reset instead of answered

    def response(self) -> bytes:
        body = b'{"ok":true}' if self.status < 300 else b'{"error":"injected fault"}'
        lines = [f"HTTP/1.1 {self.status} Fault", "content-type: application/json"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        lines.append(f"content-length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


OK = Fault()


class FaultSink(LoopbackServer):
    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self._script = itertools.cycle([OK])

    def answer(self, *faults: Fault) -> None:
        """Answer the next requests with these, in a cycle; no faults: 200 again."""
        self._script = itertools.cycle(faults or [OK])

    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await read_message(reader)) is not None:
            webhook_id = request.headers.get("webhook-id", "")
            self.ledger.arrived(webhook_id)
            fault = next(self._script)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            response = fault.response()
            if fault.reset is not None:
                cut = {"before": 0, "head": response.index(b"\r\n") + 2, "body": len(response) - 4}
                writer.write(response[: cut[fault.reset]])
                await writer.drain()
                await asyncio.sleep(0.01)  # let the partial answer reach the client first
                reset(writer)
                return
            writer.write(response)
            await writer.drain()
            self.ledger.answered(webhook_id, fault.status)
