"""The fast sink's own capacity, so that the delivery figures are known not to
be the sink's limit: 16 keep-alive connections, pipelining 8 requests each."""

from __future__ import annotations

from .common import Bench, Result, median, step
from .fastsink import FastSink, capacity

CONNECTIONS = 16


def run(bench: Bench) -> list[Result]:
    reps, seconds = (1, 1.0) if bench.quick else (3, 2.0)
    step(f"sink: capacity with {CONNECTIONS} connections, {reps} x {seconds:g} s")
    rates = []
    with FastSink() as sink:
        for _ in range(reps):
            sink.reset()
            answered = capacity(sink.url, CONNECTIONS, seconds)
            counted = sink.stats()["requests"]
            if counted != answered:
                raise RuntimeError(f"the sink counted {counted} of {answered} requests")
            rates.append(answered / seconds)
            step(f"  {rates[-1]:,.0f} requests/s")
    return [
        Result(
            "fast sink capacity (loopback)",
            f"{median(rates):,.0f} requests/s",
            data={"rates": rates, "connections": CONNECTIONS},
        )
    ]
