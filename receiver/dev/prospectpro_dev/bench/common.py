"""What the benchmarks share: the cluster, progress lines, statistics, CPU
and WAL accounting, and the results table (child processes and waiting:
prospectpro_dev.processes)."""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

from ..cluster import PG_BIN, Cluster
from ..processes import children, proc_stat

# The production settings the benchmarks run with: crash-safe (fsync,
# full_page_writes and synchronous_commit on, as in PostgreSQL's defaults),
# shared_buffers a few times the working set, and WAL room for the bulk loads
# so that no benchmark waits on a forced checkpoint.
PRODUCTION_SETTINGS = {
    "fsync": "on",
    "full_page_writes": "on",
    "synchronous_commit": "on",
    "shared_buffers": "'512MB'",
    "max_wal_size": "'4GB'",
    "checkpoint_timeout": "'15min'",
}
# --profile: what each statement (those inside PL/Python functions too) costs.
PROFILE_SETTINGS = {
    "shared_preload_libraries": "'pg_cron,pg_stat_statements'",
    "pg_stat_statements.track": "all",
}
TEMPLATE = "bench_template"
_started = time.monotonic()


def step(message: str) -> None:
    """One progress line, with the time since the run began."""
    print(f"[{time.monotonic() - _started:6.1f} s] {message}", flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass
class Usage:
    """What a measured section cost: CPU seconds per group of processes, and
    the WAL PostgreSQL wrote (pg_stat_wal: records, full-page images, bytes, syncs)."""

    cpu: dict[str, float] = field(default_factory=dict)
    wal: dict[str, float] = field(default_factory=dict)

    def per(self, items: int) -> dict[str, float]:
        """Per item processed: CPU ms of each group, and the WAL figures."""
        figures = {f"cpu_ms_{name}": round(s * 1000 / items, 3) for name, s in self.cpu.items()}
        return figures | {f"wal_{name}": round(n / items, 2) for name, n in self.wal.items()}


def describe(per_item: dict[str, float]) -> str:
    """A one-line summary of Usage.per()."""
    cpu = ", ".join(
        f"{key[7:]} {value:.2f}" for key, value in per_item.items() if key.startswith("cpu_ms_")
    )
    wal = per_item.get("wal_bytes"), per_item.get("wal_sync")
    return f"CPU ms {cpu}; WAL {wal[0]:.0f} B, {wal[1]:.2f} syncs"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Result:
    """One row of the table; ``data`` holds every figure, for the JSON file."""

    benchmark: str
    measured: str
    target: str = ""
    passed: bool | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "miss", None: "-"}[self.passed]


def table(results: list[Result]) -> str:
    rows = [("benchmark", "measured", "target", "result")]
    rows += [(r.benchmark, r.measured, r.target, r.verdict) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def alternate(
    rounds: int, runs: dict[str, Callable[[], float | list[float]]], unit: str
) -> dict[str, list[float]]:
    """Run each measurement once per round, in turn; the order flips every round.

    A measurement returns one sample or a list of them; all are kept.
    """
    samples: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    for n in range(rounds):
        for name in order if n % 2 == 0 else order[::-1]:
            value = runs[name]()
            got = value if isinstance(value, list) else [value]
            samples[name] += got
            step(f"  round {n + 1}/{rounds} {name}: {median(got):.2f} {unit}")
    return samples


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True)


def scalar(conn: psycopg.Connection, sql: str, params: Any = None) -> Any:
    return conn.execute(sql, params).fetchone()[0]


def vm_hwm_mb(pid: int) -> float:
    """A process's resident memory high-water mark, in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes and their exited children used so far."""
    fields = [f for f in map(proc_stat, pids) if f]
    return sum(int(f[11]) + int(f[12]) + int(f[13]) + int(f[14]) for f in fields) / TICKS


class Bench:
    """The throwaway cluster the benchmarks share, and their options."""

    def __init__(self, cluster: Cluster, quick: bool, profile: bool) -> None:
        self.cluster = cluster
        self.quick = quick
        self.profile = profile
        extensions = ("prospectpro", "pg_stat_statements") if profile else ("prospectpro",)
        cluster.psql(f"drop database if exists {TEMPLATE}")
        cluster.create_database(TEMPLATE, extensions)

    def database(self, name: str) -> str:
        """A fresh database with the extension; returns its DSN."""
        self.cluster.psql(f'drop database if exists "{name}" with (force)')
        self.cluster.psql(f'create database "{name}" template {TEMPLATE}')
        return self.cluster.dsn(name)

    def drop(self, name: str) -> None:
        self.cluster.psql(f'drop database "{name}" with (force)')

    def postgres_pids(self) -> list[int]:
        """The postmaster and its children (backends, walwriter, checkpointer...)."""
        postmaster = int((self.cluster.data / "postmaster.pid").read_text().split()[0])
        return [postmaster, *children(postmaster)]

    @contextlib.contextmanager
    def observe(self, dsn: str, title: str, **groups: list[int]) -> Iterator[Usage]:
        """The Usage of the section (filled in on exit): CPU of the given groups of
        processes, of postgres and of this process, and WAL written; with --profile,
        also samples what PostgreSQL's backends were doing and prints it."""
        groups = {**groups, "bench": [os.getpid()]}

        def cpu() -> dict[str, float]:
            # Backends that exit meanwhile count in the postmaster's children times.
            return {"postgres": cpu_seconds(self.postgres_pids())} | {
                name: cpu_seconds(pids) for name, pids in groups.items()
            }

        def wal() -> dict[str, float]:
            with connect(dsn) as conn:
                row = conn.execute(
                    "select wal_records, wal_fpi, wal_bytes, wal_sync from pg_stat_wal"
                ).fetchone()
            return dict(zip(("records", "fpi", "bytes", "sync"), map(float, row), strict=True))

        usage, cpu_before, wal_before = Usage(), cpu(), wal()
        sampler = WaitSampler(dsn) if self.profile else contextlib.nullcontext()
        with sampler:
            yield usage
        usage.cpu = {name: seconds - cpu_before[name] for name, seconds in cpu().items()}
        usage.wal = {name: n - wal_before[name] for name, n in wal().items()}
        if self.profile:
            step(f"profile of {title}: what PostgreSQL's client backends were doing")
            for (state, wait), share in sampler.shares()[:12]:
                print(f"    {share:6.1%}  {state:<20} {wait}", flush=True)

    def pgbench(self, dbname: str, *args: str) -> str:
        out = subprocess.run(
            [str(PG_BIN / "pgbench"), *args],
            env={**os.environ, **self.cluster.env(dbname)},
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def top_statements(self, dsn: str, title: str, limit: int = 12) -> None:
        """With --profile: print the statements that took the most time, then reset."""
        if not self.profile:
            return
        with connect(dsn) as conn:
            rows = conn.execute(
                "select calls, round(total_exec_time)::bigint, round(mean_exec_time::numeric, 3),"
                " regexp_replace(left(query, 110), '\\s+', ' ', 'g')"
                " from pg_stat_statements where dbid = (select oid from pg_database"
                "   where datname = current_database())"
                " order by total_exec_time desc limit %s",
                (limit,),
            ).fetchall()
            conn.execute("select pg_stat_statements_reset()")
        step(f"profile of {title}: calls, total ms, mean ms, statement")
        for calls, total, mean, query in rows:
            print(f"    {calls:>8} {total:>8} {mean:>9}  {query}", flush=True)


class WaitSampler:
    """Samples pg_stat_activity every 10 ms from a thread: what each client
    backend of the database is doing (running, or waiting on what)."""

    SQL = """
        select state, coalesce(wait_event_type || ':' || wait_event, 'CPU')
        from pg_stat_activity
        where backend_type = 'client backend' and pid <> pg_backend_pid()
          and datname = current_database() and state <> 'idle'
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.counts: Counter = Counter()
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        with connect(self.dsn) as conn:
            while self.running:
                self.counts.update(tuple(row) for row in conn.execute(self.SQL))
                time.sleep(0.01)

    def shares(self) -> list[tuple[tuple[str, str], float]]:
        total = sum(self.counts.values()) or 1
        return [(key, n / total) for key, n in self.counts.most_common()]

    def __enter__(self) -> WaitSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()


@contextlib.contextmanager
def bench_cluster(quick: bool, profile: bool) -> Iterator[Bench]:
    settings = {**PRODUCTION_SETTINGS, **(PROFILE_SETTINGS if profile else {})}
    with Cluster(settings=settings) as cluster:
        yield Bench(cluster, quick, profile)
