"""Retention soak: events at a steady rate for minutes, delivered by a worker
and pruned by prospectpro.prune() every few seconds; table sizes must stay
bounded. Not in the default set: `python -m prospectpro_dev.bench --only soak`
(10 minutes at 500 events per second; --quick: 1 minute).
"""

from __future__ import annotations

import threading
import time

from ..processes import Processes
from .common import Bench, Result, connect, scalar, step
from .delivery import configure, start_workers
from .fastsink import FastSink

RATE = 500
BATCH = 50  # events per transaction: 10 transactions per second
RETENTION = "20 seconds"
PRUNE_EVERY = 10.0
SIZE_SQL = """
select pg_total_relation_size('prospectpro.outbox')
     + pg_total_relation_size('prospectpro.delivery_attempts')
"""
EMIT_SQL = (
    "select prospectpro._emit('lead_enrichment', jsonb_build_object('n', n))"
    " from generate_series(1, %s) as n"
)


def _prune(dsn: str, stop: threading.Event) -> None:
    with connect(dsn) as conn:
        while not stop.wait(PRUNE_EVERY):
            conn.execute(f"call prospectpro.prune(interval '{RETENTION}', 5000)")


def run(bench: Bench) -> list[Result]:
    minutes = 1 if bench.quick else 10
    dsn = bench.database("soak")
    step(f"soak: {RATE} events/s for {minutes} min, pruning past {RETENTION}")
    stop = threading.Event()
    samples: list[tuple[float, int, int]] = []
    with FastSink() as sink, Processes() as procs, connect(dsn) as conn:
        configure(dsn, sink)
        start_workers(procs, dsn, 1, 100)
        pruner = threading.Thread(target=_prune, args=(dsn, stop), daemon=True)
        pruner.start()
        start = time.perf_counter()
        ticks = int(minutes * 60 * RATE / BATCH)
        for tick in range(ticks):
            pause = start + tick * BATCH / RATE - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            conn.execute(EMIT_SQL, (BATCH,))
            if tick % (RATE // BATCH * 10) == 0:  # every 10 s
                pending = scalar(conn, "select count(*) from prospectpro.outbox")
                samples.append((time.perf_counter() - start, scalar(conn, SIZE_SQL), pending))
                step(f"  {samples[-1][0]:5.0f} s: {samples[-1][1] / 2**20:6.1f} MB, "
                     f"{pending} events kept")  # fmt: skip
        stop.set()
        pruner.join()
    emitted = ticks * BATCH
    # Bounded: once retention has turned over (the first third), the size
    # stops growing: the last third peaks no higher than the middle third.
    third = len(samples) // 3
    middle = max(size for _, size, _ in samples[third : 2 * third])
    last = max(size for _, size, _ in samples[2 * third :])
    return [
        Result(
            f"soak, {RATE} events/s for {minutes} min with prune()",
            f"{emitted:,} events; outbox + logs peak {middle / 2**20:.1f} MB (middle third)"
            f" vs {last / 2**20:.1f} MB (last third)",
            target="last third ≤ 1.5x middle third",
            passed=last <= 1.5 * middle,
            data={"samples": samples},
        )
    ]
