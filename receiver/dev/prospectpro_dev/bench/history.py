"""History at constant cost (issue 20): what looking back costs as retained
history grows, what retention costs, and what partitioning costs the paths
that write.

- monitoring at scale: the receiver's /metrics database refresh (its
  DATABASE_QUERIES, in turn, on one connection) and the webhook_logs debug
  query, at 100,000 and at 10,000,000 retained delivered events with one
  attempt each (--quick: 1,000,000), loaded as the same ten days of time
  partitions;
- retention: dropping the oldest day's partitions (outbox and attempt log, a
  tenth of the retained events, with dead events among them that must
  survive) while a delivery round runs beside it, and how long a writer
  waited meanwhile;
- no regression: single-lead inserts (pgbench) and delivery rounds (batch
  500) against the same run's figures for 1.1, the unpartitioned layout;
- bytes on disk per delivered event (outbox, attempt log, their indexes);
- the upgrade from 1.1 at 1,000,000 delivered events with an attempt each
  (--quick: 100,000), and how long a writer waits for it.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from prospectpro.metrics import DATABASE_QUERIES

from .common import Bench, Result, alternate, connect, median, scalar, step
from .delivery import EMIT_SQL
from .fastsink import FastSink
from .write import SCRIPT, TPS

ROOT = Path(__file__).resolve().parents[4]
FIRST_DAY = "2020-01-01T00:00+00:00"
DEBUG_QUERY = "select * from prospectpro.webhook_logs order by created_at desc limit 10"
# One day of events, as the rounds would have left them: delivered, one attempt.
DAY_SQL = """
create table prospectpro.outbox_{name} partition of prospectpro.outbox
    for values from ('{lower}') to ('{upper}');
create table prospectpro.delivery_attempts_{name} partition of prospectpro.delivery_attempts
    for values from ('{lower}') to ('{upper}');
select prospectpro._index_partition('outbox', 'outbox_{name}');
select prospectpro._index_partition('delivery_attempts', 'delivery_attempts_{name}');
insert into prospectpro.outbox
    (webhook_type, payload, ordering_key, status, attempts, created_at, delivered_at)
select 'lead_enrichment',
       jsonb_build_object('lead_id', n, 'campaign_id', n % 100, 'webhook_type',
           'lead_enrichment', 'enrichment_stage', 'stage1', 'lead_data',
           jsonb_build_object('business_name', 'Business ' || n, 'confidence_score', 0,
               'is_qualified', false),
           'webhook_metadata', jsonb_build_object('trigger_time', t, 'event', 'lead_created')),
       'campaign:' || n % 100, case when n % 100000 = 0 then 'dead' else 'delivered' end, 1,
       t, t + interval '5 ms'
from generate_series(1, {events}) as n,
     lateral (select '{lower}'::timestamptz + n * interval '1 day' / ({events} + 1) as t) as at;
insert into prospectpro.delivery_attempts
    (event_id, webhook_id, webhook_type, attempt, status, http_status, latency_ms, created_at)
select id, webhook_id, webhook_type, 1,
       case when status = 'dead' then 'failed' else 'success' end, 200, 2.5,
       created_at + interval '4 ms'
from prospectpro.outbox_{name};
"""
SIZE_SQL = """
select coalesce(sum(total_bytes), 0) from prospectpro.history_partitions
where table_name in ('outbox', 'delivery_attempts')
"""


def load_days(dsn: str, first: int, days: int, per_day: int) -> None:
    """Days first..first+days-1 after FIRST_DAY, per_day events each."""
    start = datetime.fromisoformat(FIRST_DAY)
    with connect(dsn) as conn:
        for day in range(first, first + days):
            lower = start + timedelta(days=day)
            upper = lower + timedelta(days=1)
            name = lower.strftime("%Y%m%d_0000")
            conn.execute(DAY_SQL.format(name=name, lower=lower, upper=upper, events=per_day))
            step(f"  loaded day {day + 1}: {per_day:,} events and attempts")
        conn.execute("vacuum (analyze) prospectpro.outbox, prospectpro.delivery_attempts")


def refresh_ms(dsn: str, runs: int = 20) -> tuple[float, float]:
    """Median ms of a /metrics database refresh and of the debug query."""
    refresh, debug = [], []
    with connect(dsn) as conn:
        for _ in range(runs):
            started = time.perf_counter()
            for sql in DATABASE_QUERIES.values():
                conn.execute(sql).fetchall()
            refresh.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            conn.execute(DEBUG_QUERY).fetchall()
            debug.append((time.perf_counter() - started) * 1000)
    return median(refresh), median(debug)


def monitoring(bench: Bench, dsn: str) -> tuple[list[Result], int]:
    """The same ten days of partitions (a retention's worth) holding 100,000
    events, then 10,000,000: what grows is the history, not the partitions."""
    small, large = 100_000, (1_000_000 if bench.quick else 10_000_000)
    times = {}
    for events in (small, large):
        step(f"history: {events:,} retained events, in 10 days of {events // 10:,}")
        with connect(dsn) as conn:
            for table in ("outbox", "delivery_attempts"):
                for (name,) in conn.execute(
                    "select partition_name from prospectpro.history_partitions"
                    " where table_name = %s and upper_bound <= '2020-12-31'",
                    (table,),
                ).fetchall():
                    conn.execute(f"drop table prospectpro.{name}")
        load_days(dsn, 0, 10, events // 10)
        times[events] = refresh_ms(dsn)
        step(f"  /metrics refresh {times[events][0]:.1f} ms, debug query {times[events][1]:.1f} ms")
    at_small, at_large = times[small], times[large]
    ratio = at_large[0] / at_small[0]
    return [
        Result(
            f"/metrics database refresh at {large:,} vs {small:,} events",
            f"{at_large[0]:.1f} ms vs {at_small[0]:.1f} ms = {ratio:.2f}x",
            "<= 50 ms, <= 1.5x",
            at_large[0] <= 50 and ratio <= 1.5,
            {"small": small, "large": large, "ms": {"small": at_small, "large": at_large}},
        ),
        Result(
            f"webhook_logs debug query at {large:,} attempts",
            f"{at_large[1]:.1f} ms",
            "< 20 ms",
            at_large[1] < 20,
        ),
    ], large // 10


def retention(bench: Bench, dsn: str, per_day: int) -> list[Result]:
    """Drop the oldest day while a worker's rounds and a writer run beside it."""
    stalls: list[float] = []
    stop = threading.Event()

    def write() -> None:
        with connect(dsn) as writer:
            while not stop.is_set():
                started = time.perf_counter()
                writer.execute("select prospectpro._emit('lead_enrichment', '{}')")
                stalls.append(time.perf_counter() - started)
                time.sleep(0.002)

    with FastSink() as sink, connect(dsn) as conn:
        conn.execute("select prospectpro.configure_endpoint('lead_enrichment', %s, 'tok')",
                     (sink.url,))  # fmt: skip
        conn.execute("select prospectpro.maintain_partitions()")

        def deliver() -> None:
            with connect(dsn) as rounds:
                rounds.execute("call prospectpro.run_delivery(6, 500)")

        delivering = threading.Thread(target=deliver)
        writer = threading.Thread(target=write)
        delivering.start()
        writer.start()
        time.sleep(1)
        cutoff = scalar(conn, "select %s::timestamptz + interval '1 day'", (FIRST_DAY,))
        dead = scalar(conn, "select count(*) from prospectpro.outbox where status = 'dead'")
        drops = {}
        for name in scalar(conn, "select prospectpro.expired_partitions(%s)", (cutoff,)):
            started = time.perf_counter()
            assert scalar(conn, "select prospectpro.drop_expired_partition(%s, %s)", (name, cutoff))
            drops[name] = time.perf_counter() - started
        stop.set()
        writer.join()
        delivering.join()
        kept = scalar(conn, "select count(*) from prospectpro.outbox where status = 'dead'")
    slowest = max(drops.values())
    step(f"retention: {', '.join(f'{n} {s * 1000:.0f} ms' for n, s in drops.items())};"
         f" dead events {dead} before, {kept} after; writer waited at most"
         f" {max(stalls) * 1000:.0f} ms")  # fmt: skip
    return [
        Result(
            f"retention: drop one day ({per_day:,} events) beside delivery",
            f"{slowest * 1000:.0f} ms; writer waited <= {max(stalls) * 1000:.0f} ms",
            "<= 1 s",
            slowest <= 1 and kept == dead,
            {"drops_s": drops, "writer_max_wait_s": max(stalls), "dead": [dead, kept]},
        )
    ]


def old_release(bench: Bench, name: str, version: str) -> str:
    """A database with a released version, installed beside the current one."""
    subprocess.run([ROOT / "tools/install-version", version], check=True, capture_output=True)
    subprocess.run(["make", "-s", "install"], cwd=ROOT, check=True, capture_output=True)
    bench.cluster.psql(f'drop database if exists "{name}" with (force)')
    bench.cluster.psql(f'create database "{name}"')
    dsn = bench.cluster.dsn(name)
    with connect(dsn) as conn:
        conn.execute(f"create extension prospectpro version '{version}' cascade")
        conn.execute(
            "insert into prospectpro.campaigns (name, target_count)"
            " select 'Campaign ' || n, 1000000 from generate_series(1, 100) n"
        )
    return dsn


def regression(bench: Bench) -> list[Result]:
    rounds, seconds, events = (2, 3, 2_000) if bench.quick else (4, 8, 20_000)
    names = {"1.2": "bench_history_new", "1.1": "bench_history_old"}
    dsns = {"1.2": bench.database(names["1.2"]), "1.1": old_release(bench, names["1.1"], "1.1")}
    with connect(dsns["1.2"]) as conn:
        conn.execute(
            "insert into prospectpro.campaigns (name, target_count)"
            " select 'Campaign ' || n, 1000000 from generate_series(1, 100) n"
        )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "lead.sql"
        script.write_text(SCRIPT.format(schema="prospectpro"))

        def inserts(version: str):
            return lambda: float(TPS.search(bench.pgbench(
                names[version], "-n", "-M", "prepared",
                "-c", "4", "-j", "2", "-T", str(seconds), "-f", str(script),
            ))[1])  # fmt: skip

        step(f"history: single-lead inserts, 1.2 and 1.1, {rounds} alternating rounds")
        tps = alternate(rounds, {v: inserts(v) for v in dsns}, "tps")
    results.append(compare("write, 1 lead/txn (pgbench 4 clients)", "tps", tps))

    with FastSink() as sink:

        def rounds_of_500(version: str):
            def measure() -> float:
                with connect(dsns[version]) as conn:
                    conn.execute("select prospectpro.configure_endpoint('lead_enrichment',"
                                 " %s, 'tok')", (sink.url,))  # fmt: skip
                    # cascade: 1.1's lifecycle records refer to the outbox.
                    conn.execute(
                        "truncate prospectpro.outbox, prospectpro.delivery_attempts cascade"
                    )
                    conn.execute(EMIT_SQL, (1, events))
                    started = time.perf_counter()
                    while scalar(conn, "select prospectpro.deliver_due(500)"):
                        pass
                    return events / (time.perf_counter() - started)

            return measure

        step(f"history: delivery rounds of 500, {events:,} events, 1.2 and 1.1")
        rates = alternate(rounds, {v: rounds_of_500(v) for v in dsns}, "webhooks/s")
        with connect(dsns["1.2"]) as conn:
            per_event = scalar(conn, SIZE_SQL) / events
    results.append(compare("delivery, rounds of 500", "webhooks/s", rates))
    results.append(
        Result(
            "bytes on disk per delivered event",
            f"{per_event:,.0f} B (outbox + attempt log + indexes, {events:,} events)",
            "printed",
            None,
            {"bytes_per_event": per_event},
        )
    )
    for name in names.values():
        bench.drop(name)
    return results


# 1.1's tables, filled as its rounds would have left them.
OLD_HISTORY_SQL = """
insert into prospectpro.outbox (webhook_type, payload, status, attempts, created_at, delivered_at)
select 'lead_enrichment', jsonb_build_object('lead_id', n, 'enrichment_stage', 'stage1'),
       'delivered', 1, now() - interval '1 day' + n * interval '1 ms',
       now() - interval '1 day' + n * interval '1 ms'
from generate_series(1, {events}) as n;
insert into prospectpro.delivery_attempts
    (event_id, webhook_id, webhook_type, attempt, status, http_status, latency_ms, created_at)
select id, webhook_id, webhook_type, 1, 'success', 200, 2.5, created_at
from prospectpro.outbox;
"""


def upgrade(bench: Bench) -> list[Result]:
    events = 100_000 if bench.quick else 1_000_000
    dsn = old_release(bench, "bench_upgrade", "1.1")
    with connect(dsn) as conn:
        step(f"history: 1.1 with {events:,} delivered events, then the upgrade to 1.2")
        conn.execute(OLD_HISTORY_SQL.format(events=events))
        conn.execute("vacuum (analyze) prospectpro.outbox, prospectpro.delivery_attempts")
        waited: list[float] = []

        def write() -> None:  # starts once the upgrade holds its locks
            time.sleep(0.2)
            with connect(dsn) as writer:
                started = time.perf_counter()
                writer.execute("select prospectpro._emit('cost_alert', '{}')")
                waited.append(time.perf_counter() - started)

        writer = threading.Thread(target=write)
        writer.start()
        started = time.perf_counter()
        conn.execute("alter extension prospectpro update to '1.2'")
        took = time.perf_counter() - started
        writer.join()
        kept = scalar(conn, "select count(*) from prospectpro.webhook_logs")
    bench.drop("bench_upgrade")
    step(f"  upgrade took {took:.2f} s; a writer waited {waited[0]:.2f} s; {kept:,} attempts kept")
    return [
        Result(
            f"upgrade 1.1 -> 1.2 at {events:,} events",
            f"{took:.2f} s ({took / events * 1e6:.2f} s per million); writes wait",
            "printed",
            None,
            {"seconds": took, "writer_waited_s": waited[0], "attempts_kept": kept},
        )
    ]


def compare(title: str, unit: str, samples: dict[str, list[float]]) -> Result:
    new, old = median(samples["1.2"]), median(samples["1.1"])
    ratio = new / old
    return Result(
        f"{title}: partitioned vs 1.1",
        f"{new:,.0f} vs {old:,.0f} {unit} = {ratio:.2f}x",
        ">= 0.95x",
        ratio >= 0.95,
        {"samples": samples, "ratio": ratio},
    )


def run(bench: Bench) -> list[Result]:
    results = regression(bench) + upgrade(bench)
    dsn = bench.database("bench_history")
    found, per_day = monitoring(bench, dsn)
    results += found + retention(bench, dsn, per_day)
    bench.drop("bench_history")
    return results
