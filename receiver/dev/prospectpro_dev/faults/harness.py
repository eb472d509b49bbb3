"""The scenario harness: per scenario a fresh database (from the template on
the run's throwaway cluster), a scripted sink, real worker (and receiver)
processes, and the batches of events it committed, known by webhook-id before
they commit."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from ..cluster import Cluster
from ..processes import Process, free_port, spawn, stop, wait_answering, wait_until
from ..sink import Sink
from .model import Batch, Profile, Scenario, ScenarioFailed

TEMPLATE = "faults_template"
TOKEN = "tok"
HELD = 20  # events of the transaction each scenario holds open across its fault
SQL_RETRY_FOR = 15.0  # the harness's own queries ride out a database restart

# How a batch of events is written, and how its webhook-ids are found again
# inside the same transaction (triggers emit in subtransactions, so not by xmin).
KINDS = {
    "lead_enrichment": (
        "select prospectpro._emit('lead_enrichment',"
        " jsonb_build_object('batch', %(tag)s::text, 'n', n)) from generate_series(1, %(n)s) n",
        "select webhook_id::text from prospectpro.outbox where payload ->> 'batch' = %(tag)s",
    ),
    "campaign_lifecycle": (
        "insert into prospectpro.campaigns (name)"
        " select %(tag)s || '-' || n from generate_series(1, %(n)s) n",
        "select webhook_id::text from prospectpro.outbox"
        " where webhook_type = 'campaign_lifecycle'"
        " and payload -> 'campaign_info' ->> 'name' like %(tag)s || '-%%'",
    ),
}
# Backends in the middle of a round: past its claim, and past the first call's
# import of the PL/Python package (a fresh backend spends that long importing).
BUSY_SQL = """
select application_name, pid from pg_stat_activity
where datname = current_database() and state = 'active'
  and application_name like 'faults-%' and query like '%deliver_due%'
  and clock_timestamp() - query_start > interval '0.2 s'
  and clock_timestamp() - backend_start > interval '1.5 s'
order by random()
"""


class Env:
    """Everything one scenario runs against; all of it is gone after ``close``."""

    def __init__(self, cluster: Cluster, profile: Profile, scenario: Scenario, say) -> None:
        self.cluster, self.p, self.scenario, self._say = cluster, profile, scenario, say
        self.started = time.monotonic()
        self.dbname = f"faults_{scenario.number}"
        cluster.psql(f'create database "{self.dbname}" template {TEMPLATE}')
        self.dsn = cluster.dsn(self.dbname)
        self.dir = Path(tempfile.mkdtemp(prefix="prospectpro-faults."))
        self.stack = contextlib.ExitStack()
        self.sink = self.enter(Sink())
        self.ledger = self.sink.ledger  # where requests are counted: the sink or a proxy
        self.batches: list[Batch] = []
        self.workers: list[Process] = []
        self.receivers: list[Process] = []
        self.problems: list[str] = []
        self.dead = 0  # events the scenario saw dead before bringing them back
        self.expected: list[tuple[str, str]] = []
        self.checks: list[Callable[[], None]] = []  # more, once the outbox is drained

    def close(self) -> None:
        for process in self.workers + self.receivers:
            if process.poll() is None:
                process.kill()
        self.stack.close()
        with contextlib.suppress(Exception):
            self.cluster.psql(f'drop database if exists "{self.dbname}" with (force)')
        shutil.rmtree(self.dir, ignore_errors=True)

    def enter(self, context):
        return self.stack.enter_context(context)

    # -- reporting ---------------------------------------------------------
    def say(self, message: str) -> None:
        self._say(f"    {time.monotonic() - self.started:6.1f} s  {message}")

    def problem(self, message: str) -> None:
        self.problems.append(message)
        self.say(f"PROBLEM: {message}")

    # -- the database ------------------------------------------------------
    def sql(self, query: str, params: Any = None) -> list[tuple]:
        deadline = time.monotonic() + SQL_RETRY_FOR
        while True:
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    return conn.execute(query, params).fetchall()
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def scalar(self, query: str, params: Any = None) -> Any:
        return self.sql(query, params)[0][0]

    def configure(self, webhook_type: str = "lead_enrichment", url: str | None = None, **options):
        options.setdefault("retry_schedule", list(self.p.schedule))
        options.setdefault("probe_interval", self.p.probe_interval)
        names = "".join(f", {k} => %({k})s" for k in options)
        self.sql(
            f"select prospectpro.configure_endpoint(%(type)s, %(url)s, %(token)s{names})",
            {"type": webhook_type, "url": url or self.sink.url, "token": TOKEN, **options},
        )

    def committed(self) -> int:
        return sum(len(b.webhook_ids) for b in self.batches if b.committed)

    def pending(self) -> int:
        return self.scalar("select count(*) from prospectpro.outbox where status = 'pending'")

    def write(self, conn: psycopg.Connection, count: int, kind: str) -> Batch:
        """Write a batch of ``count`` events in the open transaction of ``conn``."""
        emit, find = KINDS[kind]
        params = {"tag": f"b{len(self.batches)}", "n": count}
        conn.execute(emit, params)
        batch = Batch([row[0] for row in conn.execute(find, params)])
        self.batches.append(batch)
        return batch

    def emit(self, count: int, kind: str = "lead_enrichment", per_transaction: int = 1000) -> None:
        """Commit ``count`` events, in transactions of at most ``per_transaction``."""
        with psycopg.connect(self.dsn) as conn:
            while count > 0:
                batch = self.write(conn, min(count, per_transaction), kind)
                batch.commit_started = time.time()
                conn.commit()
                batch.committed = True
                count -= len(batch.webhook_ids)

    @contextlib.contextmanager
    def holding(self, count: int = HELD, kind: str = "lead_enrichment", crash: bool = False):
        """Hold a transaction with ``count`` events open across the block, then
        commit it; the sink must not have seen any of them before. With
        ``crash``, the server is expected to kill the transaction meanwhile."""
        conn = psycopg.connect(self.dsn)
        try:
            batch = self.write(conn, count, kind)
            held = time.monotonic()
            self.say(f"holding a transaction of {count} events open")
            yield
            seen = self.ledger.seen(batch.webhook_ids)
            if seen:
                self.problem(f"the sink saw {seen} events of an uncommitted transaction")
            batch.commit_started = time.time()
            try:
                conn.commit()
                batch.committed = True
            except psycopg.OperationalError as exc:
                if not crash:
                    raise
                self.say(f"the held transaction died with the server ({type(exc).__name__})")
            else:
                self.say(f"committed the held transaction after {time.monotonic() - held:.1f} s")
                if crash:
                    self.problem("the held transaction survived the crash")
        finally:
            conn.close()

    # -- processes ---------------------------------------------------------
    def start_workers(self, count: int = 2) -> None:
        for _ in range(count):
            name = f"w{len(self.workers) + 1}"
            dsn = f"{self.dsn}&application_name=faults-{name}"
            self.workers.append(self._spawn(name, "worker", "--database-url", dsn))

    def _spawn(self, name: str, *args: str, **env: str) -> Process:
        env = {"LOG_LEVEL": "WARNING", **env}
        return spawn("prospectpro", *args, env=env, log=self.dir / f"{name}.log")

    def stop_workers(self) -> None:
        for complaint in stop(*self.workers):
            self.problem(complaint)

    def start_receivers(self, count: int) -> list[int]:
        ports = [free_port() for _ in range(count)]
        env = {"DATABASE_URL": self.dsn, "WEBHOOK_AUTH_TOKEN": TOKEN}
        for port in ports:
            name = f"r{len(self.receivers) + 1}"
            exports = str(self.dir / name)
            self.receivers.append(
                self._spawn(name, "serve", "--port", str(port), **env, EXPORT_DIR=exports)
            )
        for process, port in zip(self.receivers[-count:], ports, strict=True):
            wait_answering(f"http://127.0.0.1:{port}/metrics", process=process)
        return ports

    def busy_backend(self, spare: set[int]) -> tuple[Process, int] | None:
        """A live worker whose backend (not in ``spare``) is in the middle of a
        round, and the backend's pid."""
        alive = {w.name: w for w in self.workers if not w.killed}
        for application, pid in self.sql(BUSY_SQL):
            worker = alive.get(application.removeprefix("faults-"))
            if worker is not None and pid not in spare:
                return worker, pid
        return None

    # -- waiting -----------------------------------------------------------
    def wait_for(self, what: str, predicate: Callable[[], Any], timeout: float | None = None):
        try:
            return wait_until(predicate, timeout or self.p.settle, interval=0.05, what=what)
        except TimeoutError as exc:
            raise ScenarioFailed(str(exc)) from None

    def settle(self) -> None:
        """Wait until no event is pending, telling how it goes now and then."""
        if not self.pending():
            return
        deadline = time.monotonic() + self.p.settle
        next_report = time.monotonic() + 5
        while (pending := self.pending()) and time.monotonic() < deadline:
            if time.monotonic() >= next_report:
                self.say(f"{pending} events pending, {self.ledger.total()} requests so far")
                next_report += 5
            time.sleep(0.1)
        if pending:
            self.problem(f"{pending} events still pending after {self.p.settle:g} s")
        else:
            self.say(f"outbox drained: {self.ledger.total()} requests in all")

    def expect_failures(self, condition: str, what: str) -> None:
        """The fault must show in webhook_logs: some failed attempt matches
        ``condition``. Checked once the outbox is drained."""
        self.expected.append((condition, what))

    def check_expected(self) -> None:
        for check in self.checks:
            check()
        for condition, what in self.expected:
            count = self.scalar(
                "select count(*) from prospectpro.webhook_logs"
                f" where status = 'failed' and {condition}"
            )
            if count:
                self.say(f"{count} failed attempts logged with {what}")
                continue
            seen = self.sql(
                "select coalesce(http_status::text, left(error, 40)), count(*)"
                " from prospectpro.webhook_logs where status = 'failed' group by 1 order by 2 desc"
            )
            self.problem(f"the fault never showed: no failed attempt with {what} (but {seen})")
