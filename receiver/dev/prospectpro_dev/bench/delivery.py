"""Delivery throughput: 20,000 events committed at once, delivered by 1 and by
4 workers (at two batch sizes) to the fast sink; from the commit to the last
success recorded in webhook_logs."""

from __future__ import annotations

import contextlib
import time

from ..processes import Processes, wait_until
from .common import Bench, Result, Usage, connect, describe, median, scalar, step
from .fastsink import FastSink

EMIT_SQL = """
select count(prospectpro._emit('lead_enrichment', jsonb_build_object('n', n)))
from generate_series(%s::int, %s::int) as n
"""
SUCCESSES_SQL = "select count(*) from prospectpro.webhook_logs where status = 'success'"
CHECK_SQL = """
select count(*), count(*) filter (where status = 'success'), count(distinct event_id),
       (select count(*) from prospectpro.outbox where status <> 'delivered')
from prospectpro.webhook_logs
"""
CONFIGS = [(1, 100), (1, 500), (4, 100), (4, 500)]
TARGET = 3000
# Per (workers, batch): one worker with batches of 500 is held to more.
TARGETS = {(1, 500): 10_000}


def configure(dsn: str, sink: FastSink) -> None:
    with connect(dsn) as conn:
        conn.execute(
            "select prospectpro.configure_endpoint('lead_enrichment', %s, 'tok',"
            " max_connections => 16)",
            (sink.url,),
        )


def start_workers(procs: Processes, dsn: str, workers: int, batch: int) -> list:
    args = ["worker", "--database-url", dsn, "--batch", str(batch)]
    return [procs.spawn("prospectpro", *args, env={"LOG_LEVEL": "WARNING"}) for _ in range(workers)]


def deliver(conn, sink: FastSink, events: int, timeout: float, meter=None) -> dict:
    """Commit ``events`` events in one statement; time them to the last logged success.

    ``meter``, a Bench.observe, measures the CPU and WAL used meanwhile.
    """
    conn.execute("truncate prospectpro.outbox, prospectpro.delivery_attempts")
    sink.reset()
    conn.execute(EMIT_SQL, (1, events))
    committed = time.perf_counter()
    with meter or contextlib.nullcontext(Usage()) as usage:
        wait_until(lambda: scalar(conn, SUCCESSES_SQL) >= events, timeout, interval=0.05)
    elapsed = time.perf_counter() - committed
    attempts, successes, distinct, undelivered = conn.execute(CHECK_SQL).fetchone()
    stats = sink.stats()
    numbers = {n for n, _ in sink.arrivals()}
    return {
        "rate": events / elapsed,
        "seconds": elapsed,
        "logged_attempts": attempts,
        "logged_successes": successes,
        "events_logged": distinct,
        "undelivered": undelivered,
        "sink_requests": stats["requests"],
        "sink_distinct_events": len(numbers),
        "max_connections": stats["max_connections"],
        "per_event": usage.per(events),
    }


def run(bench: Bench) -> list[Result]:
    # 2 repetitions: 4 configurations of 20,000 events at under 1,000/s take minutes.
    events, reps = (2_000, 1) if bench.quick else (20_000, 2)
    dsn = bench.database("bench_delivery")
    results = []
    with FastSink() as sink, Processes() as procs, connect(dsn) as conn:
        configure(dsn, sink)
        for workers, batch in CONFIGS:
            step(f"delivery: {events:,} events, {workers} worker(s), batch {batch}, {reps} reps")
            started = start_workers(procs, dsn, workers, batch)
            deliver(conn, sink, 500, timeout=120)  # warm-up: imports, connections
            runs = []
            pids = {"workers": [p.pid for p in started], "sink": [sink.pid]}
            for rep in range(reps):
                meter = bench.observe(dsn, f"delivery {workers}x{batch}", **pids)
                runs.append(deliver(conn, sink, events, timeout=300, meter=meter))
                step(
                    f"  rep {rep + 1}/{reps}: {runs[-1]['rate']:.0f}/s in "
                    f"{runs[-1]['seconds']:.2f} s, {runs[-1]['max_connections']} connections;"
                    f" per event: {describe(runs[-1]['per_event'])}"
                )
            procs.stop(*started)
            results.append(summarise(workers, batch, events, runs))
        bench.top_statements(dsn, "delivery")
    bench.drop("bench_delivery")
    return results


def summarise(workers: int, batch: int, events: int, runs: list[dict]) -> Result:
    rate = median([r["rate"] for r in runs])
    complete = all(
        r["logged_attempts"] == r["logged_successes"] == r["events_logged"] == events
        and r["undelivered"] == 0
        and r["sink_requests"] == r["sink_distinct_events"] == events
        for r in runs
    )
    connections = max(r["max_connections"] for r in runs)
    logged = "all logged" if complete else "LOG/SINK MISMATCH"
    target = TARGETS.get((workers, batch), TARGET)
    return Result(
        f"delivery, {workers} worker(s), batch {batch}",
        f"{rate:,.0f} webhooks/s; {logged}; max {connections} conns",
        f">= {target:,}/s",
        rate >= target and complete,
        {"workers": workers, "batch": batch, "events": events, "runs": runs},
    )
