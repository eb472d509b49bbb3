"""Sustained load: single-lead inserts (pgbench as in the write row) while
workers deliver every event to the fast sink, against the same inserts without
triggers (plain) and with the capture alone (no worker), in alternating rounds.

Per configuration: the insert rate and its ratio to plain, the webhooks
delivered per second during the round, the queue depth (pending events)
sampled every 0.25 s and at the round's end, and the latency from each
event's transaction start (the outbox row's created_at: an upper bound of its
commit) to its arrival at the sink. CPU per event: capture is the server's CPU
per transaction with triggers less plain's (both without a worker); pass, claim,
sign, send and record are the worker backend's own timers
(prospectpro.delivery_round_costs(), logged by each worker on exit); "other" is the
rest of the worker backends' CPU (the call, commits, wake-up and due
checks); the worker processes' own CPU (psycopg, the loop) is reported apart.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from pathlib import Path

from ..processes import Processes, wait_until
from .common import Bench, Result, alternate, connect, cpu_seconds, median, percentile, scalar, step
from .delivery import configure
from .fastsink import FastSink
from .write import DONE, SCRIPT, TPS, with_plain_tables

BATCH = 100  # the worker's default
WORKERS = (1, 2, 4)
TARGET_RATIO, TARGET_P99 = 0.50, 25.0
# The leads' events (the first leads of a campaign also queue its lifecycle
# event, for which no endpoint is configured here).
LEADS = "from prospectpro.outbox where webhook_type = 'lead_enrichment'"
PENDING_SQL = f"select count(*) {LEADS} and status = 'pending'"
CREATED_SQL = f"""
select (payload ->> 'lead_id')::bigint, extract(epoch from created_at)::float8 {LEADS}
"""
BACKENDS_SQL = (
    "select pid from pg_stat_activity where application_name = 'prospectpro worker'"
    " and datname = current_database()"
)
COSTS = re.compile(r"round costs (\{.*?\});")
PHASES = ("pass", "claim", "sign", "send", "record")


class DepthSampler(threading.Thread):
    """The number of pending events, every 0.25 s, until stopped."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.depths: list[int] = []
        self.running = True

    def run(self) -> None:
        with connect(self.dsn) as conn:
            while self.running:
                self.depths.append(scalar(conn, PENDING_SQL))
                time.sleep(0.25)

    def stop(self) -> list[int]:
        self.running = False
        self.join()
        return self.depths


def run(bench: Bench) -> list[Result]:
    rounds, seconds = (2, 3) if bench.quick else (5, 8)
    dsn = bench.database("bench_sustained")
    with_plain_tables(dsn)
    per_txn_cpu: dict[str, list[float]] = {"plain": [], "capture": []}
    delivered: dict[int, list[dict]] = {n: [] for n in WORKERS}
    with (
        tempfile.TemporaryDirectory() as tmp,
        FastSink() as sink,
        Processes() as procs,
        connect(dsn) as conn,
    ):
        configure(dsn, sink)
        scripts = {}
        for schema in ("prospectpro", "plain"):
            scripts[schema] = Path(tmp) / f"{schema}.sql"
            scripts[schema].write_text(SCRIPT.format(schema=schema))

        def pgbench(schema: str) -> tuple[float, int]:
            out = bench.pgbench(
                "bench_sustained", "-n", "-M", "prepared", "-c", "4", "-j", "2",
                "-T", str(seconds), "-f", str(scripts[schema]),
            )  # fmt: skip
            return float(TPS.search(out)[1]), int(DONE.search(out)[1])

        def alone(name: str, schema: str):
            def measure() -> float:
                with bench.observe(dsn, f"sustained {name}") as usage:
                    tps, done = pgbench(schema)
                per_txn_cpu[name].append(usage.cpu["postgres"] / done)
                return tps

            return measure

        def delivering(workers: int):
            def measure() -> float:
                conn.execute("truncate prospectpro.outbox, prospectpro.delivery_attempts")
                logs = [Path(tmp) / f"worker-{workers}-{n}.log" for n in range(workers)]
                args = ["worker", "--database-url", dsn, "--batch", str(BATCH)]
                env = {"LOG_LEVEL": "INFO"}
                started = [procs.spawn("prospectpro", *args, env=env, log=log) for log in logs]
                # Warm-up: every worker connected and listening, one event delivered.
                wait_until(lambda: len(conn.execute(BACKENDS_SQL).fetchall()) == workers, 30)
                sink.reset()
                conn.execute("select prospectpro._emit('lead_enrichment', '{\"n\": 0}')")
                sink.wait_for(1, timeout=30)
                conn.execute("truncate prospectpro.outbox, prospectpro.delivery_attempts")
                sink.reset()
                backends = [pid for (pid,) in conn.execute(BACKENDS_SQL)]
                clients = [p.pid for p in started]
                before = cpu_seconds(backends), cpu_seconds(clients)
                sampler = DepthSampler(dsn)
                sampler.start()
                tps, done = pgbench("prospectpro")
                depth_end = scalar(conn, PENDING_SQL)
                depths = sampler.stop()
                backend_cpu = cpu_seconds(backends) - before[0]
                worker_cpu = cpu_seconds(clients) - before[1]
                arrivals_at_end = sink.stats()["requests"]
                sink.wait_for(scalar(conn, f"select count(*) {LEADS}"), 120)
                procs.stop(*started)
                costs = [json.loads(COSTS.search(log.read_text())[1]) for log in logs]
                arrived = {n: at for n, at in sink.arrivals() if n}
                created = dict(conn.execute(CREATED_SQL).fetchall())
                latency = [(arrived[n] - created[n]) * 1000 for n in created]
                delivered[workers].append(
                    {
                        "tps": tps,
                        "transactions": done,
                        "delivered_per_s": arrivals_at_end / seconds,
                        "depth_end": depth_end,
                        "depth_max": max(depths, default=depth_end),
                        "p50_ms": percentile(latency, 50),
                        "p99_ms": percentile(latency, 99),
                        "max_ms": max(latency),
                        "events": len(latency),
                        "backend_cpu_s": backend_cpu,
                        "worker_process_cpu_s": worker_cpu,
                        "costs": {k: sum(c[k] for c in costs) for k in costs[0]},
                    }
                )
                r = delivered[workers][-1]
                step(
                    f"    {r['delivered_per_s']:.0f} webhooks/s, depth end {depth_end}"
                    f" (max {r['depth_max']}), p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms,"
                    f" {r['costs']['rounds'] / seconds:.0f} rounds/s"
                )
                return tps

            return measure

        step(f"sustained: pgbench, 4 clients, {rounds} alternating rounds of {seconds} s")
        runs = {"plain": alone("plain", "plain"), "capture": alone("capture", "prospectpro")}
        runs |= {f"{n} worker(s)": delivering(n) for n in WORKERS}
        tps = alternate(rounds, runs, "tps")
    bench.drop("bench_sustained")
    return summarise(tps, per_txn_cpu, delivered)


def cpu_split(per_txn_cpu: dict[str, list[float]], runs: list[dict]) -> dict[str, float]:
    """Median CPU µs per event: capture, pass, claim, sign, send, record, other."""
    split = {"capture": (median(per_txn_cpu["capture"]) - median(per_txn_cpu["plain"])) * 1e6}
    for phase in PHASES:
        split[phase] = median([r["costs"][phase] / r["costs"]["events"] for r in runs]) * 1e6
    timed = [sum(r["costs"][p] for p in PHASES) for r in runs]
    split["other"] = median(
        [(r["backend_cpu_s"] - t) / r["costs"]["events"] for r, t in zip(runs, timed, strict=True)]
    ) * 1e6  # fmt: skip
    return {k: round(v, 1) for k, v in split.items()}


def summarise(tps: dict, per_txn_cpu: dict, delivered: dict) -> list[Result]:
    plain = median(tps["plain"])
    capture = median(tps["capture"])
    results = [
        Result(
            "sustained: single-lead inserts, capture only (no worker)",
            f"{capture:.0f} vs {plain:.0f} tps = {capture / plain:.2f}x plain",
            ">= 0.70x",
            capture / plain >= 0.70,
            {"tps": tps, "per_transaction_cpu_s": per_txn_cpu},
        )
    ]
    for workers, runs in delivered.items():
        name = f"{workers} worker(s)"
        ratio = median(tps[name]) / plain
        rate = median([r["delivered_per_s"] for r in runs])
        depth = max(r["depth_end"] for r in runs)
        p50 = median([r["p50_ms"] for r in runs])
        p99 = median([r["p99_ms"] for r in runs])
        split = cpu_split(per_txn_cpu, runs)
        # Bounded: what waits at the end is less than a tenth of a second's deliveries.
        bounded = depth <= max(BATCH, rate / 10)
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in split.items())
        results.append(
            Result(
                f"sustained: single-lead inserts with delivery running, {name}",
                f"{median(tps[name]):.0f} tps = {ratio:.2f}x plain; {rate:,.0f} webhooks/s;"
                f" queue at end {depth}; p50 {p50:.1f} / p99 {p99:.1f} ms;"
                f" CPU µs/event: {cpu}",
                f">= {TARGET_RATIO:.2f}x, bounded, p99 <= {TARGET_P99:g} ms",
                ratio >= TARGET_RATIO and bounded and p99 <= TARGET_P99,
                {"ratio": ratio, "cpu_us_per_event": split, "runs": runs},
            )
        )
    return results
