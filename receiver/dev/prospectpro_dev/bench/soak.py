"""An hour under load (issue 23): lead events at a steady 500 a second,
delivered by 4 workers, retention at every interval on a short retention, and
one endpoint failing 10 % of the time; one row per interval, a twelfth of the
run (5 minutes of the hour).

    python -m prospectpro_dev.bench --only soak --minutes 60   (the hour, the default)
    python -m prospectpro_dev.bench --only soak --quick        (2 minutes)

The load inserts leads, LEADS_PER_TXN per transaction, into campaigns of
CAMPAIGN_LEADS leads, and notes when each lead's transaction committed. Their
lead_enrichment events go to the fast sink, which notes each one's arrival by
lead_id: commit -> arrival is measured from the writer's side to the
server's. The campaigns' lifecycle events (created, processing_started) go to
the receiver (`prospectpro serve`) through a proxy that answers 503 to every
tenth request: the endpoint failing 10 % of the time, its events retried.
Retention: prospectpro.prune() at the end of every interval, keeping half an
interval; it drops the time partitions that ended before that, a fifth of an
interval wide and at least a minute (configure_partitions' least): 1 minute
for the hour. Autovacuum's naptime is scaled with the interval (the default
60 s for the hour's 5 minutes).

Each row: the delivery sessions' backend memory, the largest of the workers'
backends (VmRSS counts the shared buffers a backend has touched, so it climbs
towards shared_buffers by design; RssAnon is its private memory: the PL/Python
heap and the connection pools); the receiver's VmRSS; the outbox and
delivery_attempts sizes, tables and indexes summed over their partitions
when partitioned; p50 / p99 commit -> arrival of the lead events that
arrived in the interval; the queue depth (pending events), the largest of the
samples taken every second and at the interval's end; how long the interval's
prune took.

Pass: private memory and sizes stay flat once retention has dropped
partitions: no row above the peak of the baseline rows by more than FLAT.
The baseline rows start at the first row at which a partition could have been
dropped an interval before (row 2 of the hour) and span a partition's time
(the sizes saw-tooth as partitions go: one row for the hour); a run too short
to have rows after its baseline judges none. Also
p99 <= 25 ms in every row, and nothing is lost: every lead's event arrived,
every lifecycle event was acknowledged by the receiver, and no event is left
pending or dead.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psycopg

from ..faults.proxy import RoundRobinProxy
from ..processes import Processes, free_port, wait_answering, wait_until
from ..sink import Answer, Received
from .common import Bench, Result, connect, percentile, scalar, status_mb, step
from .delivery import configure
from .fastsink import FastSink
from .sustained import BACKENDS_SQL

MINUTES, QUICK_MINUTES = 60, 2
ROWS = 12  # intervals: 5 minutes of the hour
RATE = 500  # lead events a second
LEADS_PER_TXN = 10
CAMPAIGN_LEADS = 100
WORKERS = 4
FAIL_EVERY = 10  # the lifecycle endpoint answers 503 to every tenth request
TOKEN = "soak-token"
LIFECYCLE_PATH = "/api/webhooks/campaign-lifecycle"
TARGET_P99 = 25.0
# Flat: no later row above the baseline row's figure by more than this share,
# plus 2 MB (a short run's tables are a few MB).
FLAT, FLAT_MB = 0.10, 2.0
MIN_PARTITION = 60.0  # seconds: configure_partitions takes no narrower
DRAIN_TIMEOUT = 90.0  # a lifecycle event's retries take up to 31 s

CAMPAIGN_SQL = """
insert into prospectpro.campaigns (name, target_count) values ('Soak', %s) returning id
"""
LEADS_SQL = """
insert into prospectpro.enhanced_leads (campaign_id, business_name)
select %s, 'Soak lead ' || n from generate_series(1, %s) as n
returning id
"""
PENDING_SQL = "select count(*) from prospectpro.outbox where status = 'pending'"
LEFT_SQL = "select status, count(*) from prospectpro.outbox where status <> 'delivered' group by 1"
# pg_partition_tree() has no rows for a plain table: then the table itself.
SIZES_SQL = """
select sum(pg_catalog.pg_table_size(r.rel))::float8 / 2 ^ 20,
       sum(pg_catalog.pg_indexes_size(r.rel))::float8 / 2 ^ 20
from (
    select coalesce(p.relid, t.rel) as rel
    from unnest('{prospectpro.outbox,prospectpro.delivery_attempts}'::regclass[]) as t (rel)
    left join lateral pg_catalog.pg_partition_tree(t.rel) as p on true
) as r
"""
LIFECYCLE_SQL = "select count(*) from prospectpro.campaign_lifecycle_events"


class Load(threading.Thread):
    """Leads at RATE a second until stopped; ``committed`` maps each lead's id to
    when its transaction's commit returned (time.time()), until its event is matched."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.committed: dict[int, float] = {}
        self.lock = threading.Lock()
        self.leads = 0
        self.late = 0.0  # the most seconds a transaction started behind its schedule
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            self._insert()
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def _insert(self) -> None:
        with psycopg.connect(self.dsn) as conn:  # one transaction per batch of leads
            campaign, in_campaign = None, CAMPAIGN_LEADS
            start = time.perf_counter()
            for tick in itertools.count():
                delay = start + tick * LEADS_PER_TXN / RATE - time.perf_counter()
                self.late = max(self.late, -delay)
                if self._halt.wait(max(delay, 0)):
                    return
                if in_campaign == CAMPAIGN_LEADS:
                    campaign = scalar(conn, CAMPAIGN_SQL, (CAMPAIGN_LEADS,))
                    in_campaign = 0
                ids = [i for (i,) in conn.execute(LEADS_SQL, (campaign, LEADS_PER_TXN))]
                conn.commit()
                at = time.time()
                with self.lock:
                    self.committed.update(dict.fromkeys(ids, at))
                self.leads += len(ids)
                in_campaign += len(ids)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        if self.error is not None:
            raise RuntimeError(f"the load failed: {self.error!r}") from self.error


class FailingProxy(RoundRobinProxy):
    """The receiver behind a proxy that answers 503 to every FAIL_EVERY-th request."""

    def __init__(self, port: int) -> None:
        super().__init__([port])
        self.requests = 0

    async def _forward(self, request: Received) -> Answer:
        self.requests += 1
        if self.requests % FAIL_EVERY == 0:
            return Answer(503, body=b'{"error": "soak: this endpoint fails 10 % of the time"}')
        return await super()._forward(request)


class Latencies:
    """Commit -> arrival of the lead events, matched as they arrive at the sink."""

    def __init__(self, load: Load, sink: FastSink) -> None:
        self.load, self.sink = load, sink
        self.carried: list[tuple[int, float]] = []  # arrived before their commit was noted
        self.duplicates = 0  # arrivals of an event already matched

    def take(self) -> list[float]:
        """Milliseconds from commit to arrival of each event arrived since the last take.

        An arrival whose commit is not noted yet is matched at the next take; one
        still unmatched then is an event that arrived twice."""
        fresh = [(n, at) for n, at in self.sink.take() if n is not None]
        latencies, carried = [], []
        with self.load.lock:
            for arrivals, again in ((self.carried, False), (fresh, True)):
                for lead, at in arrivals:
                    committed = self.load.committed.pop(lead, None)
                    if committed is not None:
                        latencies.append((at - committed) * 1000)
                    elif again:
                        carried.append((lead, at))
                    else:
                        self.duplicates += 1
        self.carried = carried
        return latencies


@dataclass
class Row:
    minute: float
    backend_rss_mb: float
    backend_private_mb: float
    receiver_rss_mb: float
    tables_mb: float
    indexes_mb: float
    p50_ms: float
    p99_ms: float
    events: int
    depth_max: int
    prune_s: float | None = None  # of the prune that ran during the interval

    HEADER = (
        "| minute | worker backend RSS / private MB | receiver RSS MB | outbox + attempts MB"
        " (tables / indexes) | p50 / p99 ms | events | queue max | prune s |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|"
    )

    def markdown(self) -> str:
        prune = "-" if self.prune_s is None else f"{self.prune_s:.1f}"
        return (
            f"| {self.minute:g} | {self.backend_rss_mb:.1f} / {self.backend_private_mb:.1f}"
            f" | {self.receiver_rss_mb:.1f} | {self.tables_mb:.1f} / {self.indexes_mb:.1f}"
            f" | {self.p50_ms:.1f} / {self.p99_ms:.1f} | {self.events:,} | {self.depth_max:,}"
            f" | {prune} |"
        )


def _start_receiver(procs: Processes, dsn: str, log: Path):
    port = free_port()
    env = {"DATABASE_URL": dsn, "WEBHOOK_AUTH_TOKEN": TOKEN, "LOG_LEVEL": "ERROR"}
    proc = procs.spawn("prospectpro", "serve", "--port", str(port), env=env, log=log)
    base = f"http://127.0.0.1:{port}"
    wait_answering(base + LIFECYCLE_PATH + "/health", status=None, timeout=30, process=proc)
    return proc, base


def _configure(dsn: str, conn, sink: FastSink, proxy: FailingProxy) -> None:
    configure(dsn, sink)  # lead_enrichment, as the delivery benchmark
    conn.execute(
        "select prospectpro.configure_endpoint('campaign_lifecycle', %s, %s)",
        (proxy.base + LIFECYCLE_PATH, TOKEN),
    )


class Pruner:
    """prospectpro.prune() in a thread of its own, one cycle at a time."""

    def __init__(self, dsn: str, keep_seconds: float) -> None:
        self.dsn, self.keep = dsn, keep_seconds
        self.thread: threading.Thread | None = None
        self.seconds: float | None = None  # the last cycle's

    def start(self) -> bool:
        """Start a cycle unless the last one still runs (then say so)."""
        if self.thread is not None and self.thread.is_alive():
            return False
        self.thread = threading.Thread(target=self._prune, daemon=True)
        self.thread.start()
        return True

    def _prune(self) -> None:
        started = time.perf_counter()
        with connect(self.dsn) as conn:
            conn.execute("call prospectpro.prune(make_interval(secs => %s), 5000)", (self.keep,))
        self.seconds = time.perf_counter() - started

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()


@contextlib.contextmanager
def _autovacuum_naptime(dsn: str, seconds: float):
    """The cluster's autovacuum_naptime for the block (ALTER SYSTEM), then its default."""
    with connect(dsn) as conn:
        conn.execute(f"alter system set autovacuum_naptime = '{max(1, round(seconds))}s'")
        conn.execute("select pg_reload_conf()")
        try:
            yield
        finally:
            conn.execute("alter system reset autovacuum_naptime")
            conn.execute("select pg_reload_conf()")


def run(bench: Bench) -> list[Result]:
    minutes = bench.minutes or (QUICK_MINUTES if bench.quick else MINUTES)
    interval = minutes * 60 / ROWS
    keep, width = interval / 2, max(MIN_PARTITION, interval / 5)
    # The baseline: from the first row at which a partition could have been
    # dropped an interval before, the rows of one partition's time (the sizes
    # saw-tooth as partitions go); the later rows are judged against its peak.
    first = next((k for k in range(ROWS) if (k + 1) * interval >= width + keep + interval), ROWS)
    baseline = slice(first, first + math.ceil(width / interval))
    dsn = bench.database("soak")
    with connect(dsn) as conn:  # before the workers start: they make the partitions ahead
        conn.execute(
            "select prospectpro.configure_partitions(make_interval(secs => %s), %s)",
            (width, math.ceil(2 * interval / width) + 2),
        )
    step(
        f"soak: {RATE} lead events/s for {minutes:g} min, {WORKERS} workers, prune every"
        f" {interval:g} s keeping {keep:g} s, partitions of {width:g} s,"
        f" lifecycle endpoint failing 1 in {FAIL_EVERY}"
    )
    rows: list[Row] = []
    with (
        _autovacuum_naptime(dsn, interval / 5),
        tempfile.TemporaryDirectory() as logs,
        FastSink() as sink,
        Processes() as procs,
        connect(dsn) as conn,
    ):
        receiver, base = _start_receiver(procs, dsn, Path(logs) / "receiver.log")
        with FailingProxy(int(base.rsplit(":", 1)[1])) as proxy:
            _configure(dsn, conn, sink, proxy)
            args = ["worker", "--database-url", dsn]
            worker_logs = [Path(logs) / f"worker{n}.log" for n in range(WORKERS)]
            for log in worker_logs:
                procs.spawn("prospectpro", *args, env={"LOG_LEVEL": "WARNING"}, log=log)
            wait_until(lambda: len(conn.execute(BACKENDS_SQL).fetchall()) == WORKERS, 30)
            load = Load(dsn)
            latencies = Latencies(load, sink)
            pruner = Pruner(dsn, keep)
            load.start()
            started = time.monotonic()
            try:
                for k in range(1, ROWS + 1):
                    depths = []
                    while (left := started + k * interval - time.monotonic()) > 0:
                        depths.append(scalar(conn, PENDING_SQL))
                        time.sleep(min(1.0, left))
                    depths.append(scalar(conn, PENDING_SQL))
                    httpx.get(base + "/metrics", timeout=10).raise_for_status()  # as scraped
                    minute = round(k * interval / 60, 2)
                    rows.append(_row(minute, conn, receiver.pid, latencies, depths))
                    rows[-1].prune_s = pruner.seconds
                    step(f"  {rows[-1].markdown()}")
                    if not pruner.start():
                        step("  the last prune still runs: this cycle is skipped")
            finally:
                load.stop()
            step(f"soak: {load.leads:,} leads; draining")
            lost = _drain(conn, load, latencies)
            pruner.join()
            acked, lifecycle = len(proxy.ledger.acked), scalar(conn, LIFECYCLE_SQL)
        # What made a worker's round fail (its transaction rolled back, the
        # events due again): the first line of each such warning.
        errors = Counter(
            line.split(" WARNING ", 1)[1][:160]
            for log in worker_logs
            for line in log.read_text().splitlines()
            if " WARNING " in line
        )
    bench.drop("soak")
    return [
        _summarise(
            minutes, rows, baseline, load, lost, latencies.duplicates, acked, lifecycle, errors
        )
    ]


def _row(
    minute: float,
    conn: psycopg.Connection,
    receiver: int,
    latencies: Latencies,
    depths: list[int],
) -> Row:
    """The interval's row, but for its prune's time."""
    took = latencies.take()
    memory = []
    for (pid,) in conn.execute(BACKENDS_SQL):  # read again: a worker may have reconnected
        with contextlib.suppress(FileNotFoundError):  # gone meanwhile
            memory.append({field: status_mb(pid, field) for field in ("VmRSS", "RssAnon")})
    tables, indexes = conn.execute(SIZES_SQL).fetchone()
    return Row(
        minute=minute,
        backend_rss_mb=max(m["VmRSS"] for m in memory),
        backend_private_mb=max(m["RssAnon"] for m in memory),
        receiver_rss_mb=status_mb(receiver, "VmRSS"),
        tables_mb=tables,
        indexes_mb=indexes,
        p50_ms=percentile(took, 50) if took else float("nan"),
        p99_ms=percentile(took, 99) if took else float("nan"),
        events=len(took),
        depth_max=max(depths),
    )


def _drain(conn: psycopg.Connection, load: Load, latencies: Latencies) -> dict:
    """Wait for the last events; what was lost, if anything."""

    def drained() -> bool:
        latencies.take()
        return not load.committed and scalar(conn, PENDING_SQL) == 0

    with contextlib.suppress(TimeoutError):  # what is left is counted below
        wait_until(drained, DRAIN_TIMEOUT, interval=0.5)
    left = dict(conn.execute(LEFT_SQL).fetchall())
    return {"leads_not_arrived": len(load.committed), **left}


def _summarise(
    minutes: float,
    rows: list[Row],
    baseline: slice,
    load: Load,
    lost: dict,
    duplicates: int,
    acked: int,
    lifecycle: int,
    errors: Counter,
) -> Result:
    judged = rows[baseline.stop :]

    def flat(field: str) -> bool | None:
        if not judged:
            return None
        limit = max(getattr(r, field) for r in rows[baseline]) * (1 + FLAT) + FLAT_MB
        return all(getattr(r, field) <= limit for r in judged)

    flat_fields = ("backend_private_mb", "receiver_rss_mb", "tables_mb", "indexes_mb")
    flatness = {field: flat(field) for field in flat_fields}
    p99 = max(r.p99_ms for r in rows)
    nothing_lost = not any(lost.values()) and acked == lifecycle
    table = "\n".join([Row.HEADER, *(r.markdown() for r in rows)])
    print(table, flush=True)
    verdicts = ", ".join(
        f"{f} {({True: 'flat', False: 'GROWS', None: 'not judged'})[ok]}"
        for f, ok in flatness.items()
    )
    if p99 > TARGET_P99 or not nothing_lost:
        passed = False
    elif not judged:
        passed = None  # too short to judge flatness
    else:
        passed = all(flatness.values())
    return Result(
        f"soak, {RATE} lead events/s for {minutes:g} min, {WORKERS} workers, prune()",
        f"{load.leads:,} leads; worst p99 {p99:.1f} ms; {verdicts}; lost {lost or 'none'};"
        f" lifecycle acked {acked}/{lifecycle}; duplicates {duplicates};"
        f" rounds failed {sum(errors.values())};"
        f" load late by up to {load.late * 1000:.0f} ms",
        f"flat after row {baseline.stop if judged else '- (too short)'},"
        f" p99 <= {TARGET_P99:g} ms, nothing lost",
        passed,
        {
            "rows": [asdict(r) for r in rows],
            "lost": lost,
            "lifecycle": {"events": lifecycle, "acknowledged": acked},
            "duplicates": duplicates,
            "round_errors": dict(errors),
        },
    )
