"""Latency from commit to arrival at the sink, at a steady 200 and 1,000 events
per second (one event per transaction), delivered by one worker.

The emitter notes the time right after each commit returns; the sink notes
each arrival; the payload's "n" pairs them. The attempt's send time (logged
in webhook_logs) splits the latency into wake-up + claim, and the POST.
"""

from __future__ import annotations

import time

from ..processes import Processes
from .common import Bench, Result, connect, median, percentile, step
from .delivery import configure, deliver, start_workers
from .fastsink import FastSink

RATE = 200
# (events per second, seconds, p50 and p99 targets in ms); quick runs are shorter.
LEVELS = [(RATE, 30, 5.0, 25.0), (1000, 15, None, 10.0)]
EMIT_SQL = "select prospectpro._emit('lead_enrichment', jsonb_build_object('n', %s::int))"
SENT_SQL = """
select (o.payload ->> 'n')::int, extract(epoch from a.created_at)::float8
from prospectpro.outbox as o join prospectpro.delivery_attempts as a on a.event_id = o.id
"""


def emit_paced(conn, count: int, rate: float) -> dict[int, float]:
    """One event per transaction at ``rate`` per second; returns n -> commit time."""
    committed = {}
    start = time.perf_counter()
    for n in range(1, count + 1):
        pause = start + (n - 1) / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        conn.execute(EMIT_SQL, (n,))
        committed[n] = time.time()
    return committed


def run(bench: Bench) -> list[Result]:
    dsn = bench.database("bench_latency")
    results = []
    with FastSink() as sink, Processes() as procs, connect(dsn) as conn:
        configure(dsn, sink)
        start_workers(procs, dsn, 1, 100)
        deliver(conn, sink, 200, timeout=60)  # warm-up
        for rate, seconds, target_p50, target_p99 in LEVELS:
            seconds = 5 if bench.quick else seconds
            conn.execute("truncate prospectpro.outbox, prospectpro.delivery_attempts")
            sink.reset()
            step(f"latency: {rate} events/s, one per transaction, for {seconds} s, 1 worker")
            committed = emit_paced(conn, rate * seconds, rate)
            sink.wait_for(rate * seconds, timeout=60)
            arrived = dict(sink.arrivals())
            sent = dict(conn.execute(SENT_SQL).fetchall())
            results.append(summarise(rate, committed, arrived, sent, target_p50, target_p99))
    bench.top_statements(dsn, "latency")
    bench.drop("bench_latency")
    return results


def summarise(
    rate: int, committed: dict, arrived: dict, sent: dict, target_p50, target_p99: float
) -> Result:
    count = len(committed)
    pace = (count - 1) / (max(committed.values()) - min(committed.values()))
    total = [(arrived[n] - committed[n]) * 1000 for n in committed]
    to_send = [(sent[n] - committed[n]) * 1000 for n in committed]
    post = [(arrived[n] - sent[n]) * 1000 for n in committed]
    p50, p99 = percentile(total, 50), percentile(total, 99)
    step(
        f"  p50 {p50:.1f} ms, p99 {p99:.1f} ms (commit to send p50 {median(to_send):.1f} ms,"
        f" send to arrival p50 {median(post):.1f} ms), emitted at {pace:.0f}/s"
    )
    targets = ([f"p50 <= {target_p50:g}"] if target_p50 else []) + [f"p99 <= {target_p99:g} ms"]
    return Result(
        f"latency commit->sink at {rate}/s",
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(total):.0f} ms (emitted at {pace:.0f}/s)",
        ", ".join(targets),
        (target_p50 is None or p50 <= target_p50) and p99 <= target_p99,
        {
            "rate": rate,
            "p50_ms": p50,
            "p99_ms": p99,
            "max_ms": max(total),
            "commit_to_send_p50_ms": median(to_send),
            "commit_to_send_p99_ms": percentile(to_send, 99),
            "send_to_arrival_p50_ms": median(post),
            "send_to_arrival_p99_ms": percentile(post, 99),
            "emitted_per_second": pace,
            "events": count,
        },
    )
