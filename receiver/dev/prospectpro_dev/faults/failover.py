"""Scenario 10: failover. A primary and its synchronous streaming standby;
workers, a receiver and a writer on a multi-host URL
(host=primary,standby, target_session_attrs=read-write). Under load the
primary is SIGKILLed (with every backend: as a machine dies) and the standby
promoted; nothing is restarted by hand.

Passes when every event committed before the kill is delivered, an event
arrives again only if it was in flight at the kill (its round had not
committed: the surviving database shows no success of it from before), the
workers and the receiver reconnect by themselves, and the first delivery
comes at most PROMOTION_TO_DELIVERY seconds after the promotion."""

from __future__ import annotations

import contextlib
import threading
import time

import httpx
import psycopg

from ..cluster import Cluster, Standby
from ..processes import free_port, wait_until
from ..sink import Answer
from .harness import Env
from .model import Batch

DB = "faults_failover"
PROMOTION_TO_DELIVERY = 5.0
BATCH = 10  # events per transaction of the writer


class ReplicatedPair:
    """``with ReplicatedPair() as pair:`` a primary with the extension in database
    DB, and a hot standby that acknowledges every commit (synchronous_commit on,
    synchronous_standby_names '*'); both removed on exit."""

    def __enter__(self) -> ReplicatedPair:
        self.stack = contextlib.ExitStack()
        try:
            self.primary = self.stack.enter_context(Cluster(port=free_port()))
            self.primary.create_database(DB)
            # Alone once promoted: a lone primary waiting for a standby would hang commits.
            alone = {"synchronous_standby_names": "''"}
            self.standby = self.stack.enter_context(
                Standby(self.primary, settings=alone, port=free_port())
            )
            # Synchronous only now that the standby streams: until then commits would wait.
            self.primary.psql("alter system set synchronous_standby_names = '*'")
            self.primary.psql("select pg_reload_conf()")
            wait_until(
                lambda: self.primary.psql("select sync_state from pg_stat_replication") == "sync",
                what="a synchronous standby",
            )
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def dsn(self) -> str:
        """The multi-host URL: whichever of the two accepts writes."""
        hosts = f"{self.primary.dir},{self.standby.dir}"
        ports = f"{self.primary.port},{self.standby.port}"
        return (
            f"postgresql://postgres@/{DB}?host={hosts}&port={ports}"
            "&target_session_attrs=read-write&connect_timeout=2"
        )


class Writer(threading.Thread):
    """Commits a transaction of BATCH events every ``pause`` seconds through the
    multi-host URL until stopped, reconnecting as the workers do. A batch whose
    COMMIT got no answer is in doubt until the surviving database is asked."""

    def __init__(self, env: Env, pause: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.env, self.pause = env, pause
        self.stopping = threading.Event()
        self.in_doubt: list[Batch] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            with (
                contextlib.suppress(psycopg.OperationalError),
                psycopg.connect(self.env.dsn) as conn,
            ):
                while not self.stopping.wait(self.pause):
                    self._commit(conn)
            self.stopping.wait(0.05)

    def _commit(self, conn: psycopg.Connection) -> None:
        batch = self.env.write(conn, BATCH, "lead_enrichment")
        batch.commit_started = time.time()
        try:
            conn.commit()
        except psycopg.OperationalError:
            self.in_doubt.append(batch)
            raise
        batch.committed = True

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        for batch in self.in_doubt:  # a transaction is all there, or not at all
            found = self.env.scalar(
                "select count(*) from prospectpro.outbox where webhook_id::text = any(%s)",
                (batch.webhook_ids,),
            )
            batch.committed = found == len(batch.webhook_ids)
            if found not in (0, len(batch.webhook_ids)):
                self.env.problem(f"{found} of the {len(batch.webhook_ids)} events of a batch")
        if self.in_doubt:
            kept = sum(b.committed for b in self.in_doubt)
            self.env.say(f"{len(self.in_doubt)} commits died with the primary; {kept} had landed")


def failover(env: Env) -> None:
    pair = env.enter(ReplicatedPair())
    env.dsn = pair.dsn()
    env.say(f"primary and synchronous standby: {env.dsn}")
    env.configure()
    env.start_workers(2)
    (port,) = env.start_receivers(1)
    health = f"http://127.0.0.1:{port}/api/webhooks/lead-enrichment/health"
    env.sink.cycle(Answer(delay=0.05))  # rounds in flight when the primary dies
    writer = Writer(env)
    with env.holding(crash=True):
        env.emit(env.p.events)
        writer.start()
        env.wait_for("deliveries under way", lambda: env.ledger.total() >= env.p.events // 4)
        pair.primary.crash()
        killed = time.time()  # once every backend is dead: none sends after it
        env.say("SIGKILL to the primary and all its backends under load")
    pair.standby.promote()
    promoted = time.time()
    env.say("standby promoted; nothing else restarted")
    env.wait_for("a delivery after the promotion", lambda: env.ledger.last_acked > promoted)
    took = env.ledger.last_acked - promoted
    env.say(f"promotion to the first delivery: {took:.2f} s")
    if took > PROMOTION_TO_DELIVERY:
        env.problem(f"the first delivery came {took:.1f} s after promotion")
    # Its database check, whatever the others say (no provider keys are set here).
    wait_until(lambda: _database_ok(health), timeout=PROMOTION_TO_DELIVERY,
               what="the receiver's database check")  # fmt: skip
    env.say(f"the receiver's database check passes {time.time() - promoted:.2f} s after promotion")
    time.sleep(1)  # the writer goes on against the new primary
    writer.stop()
    env.checks.append(lambda: _resent_only_in_flight(env, killed))


def _database_ok(health: str) -> bool:
    try:
        return httpx.get(health, timeout=1).json()["checks"]["database"]["ok"] is True
    except (httpx.HTTPError, ValueError, KeyError):
        return False


def _resent_only_in_flight(env: Env, killed: float) -> None:
    """An event the endpoint acknowledged more than once was in flight at the
    kill: it first arrived before the kill, and the surviving database records
    no success of it from before the kill (its round died uncommitted)."""
    again = [w for w, n in env.ledger.acked.items() if n > 1]
    recorded = env.scalar(
        "select count(distinct webhook_id) from prospectpro.webhook_logs"
        " where status = 'success' and webhook_id::text = any(%s)"
        " and created_at < to_timestamp(%s)",
        (again, killed),
    )
    late = sum(env.ledger.first[w] >= killed for w in again)
    env.say(f"{len(again)} events were acknowledged more than once: rounds in flight at the kill")
    if recorded:
        env.problem(f"{recorded} events delivered and recorded before the kill were sent again")
    if late:
        env.problem(f"{late} events first sent after the kill were sent again")
