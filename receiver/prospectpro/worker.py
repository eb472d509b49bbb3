"""The delivery worker: runs prospectpro.deliver_due() when woken or due.

It LISTENs on the outbox channel, so a committed event is sent within
milliseconds, and sleeps until the next retry falls due otherwise. All
delivery logic is in the database; any number of workers may run against
one database (claims use FOR UPDATE SKIP LOCKED).
"""

from __future__ import annotations

import logging
import signal
import time

import psycopg

CHANNEL = "prospectpro_outbox"
# How long a sleeping worker waits between checks of its stop flag.
STOP_CHECK = 0.5

log = logging.getLogger("prospectpro.worker")


class Worker:
    def __init__(self, dsn: str, batch: int = 100, idle: float = 5.0) -> None:
        self.dsn = dsn
        self.batch = batch
        self.idle = idle
        self.stopping = False
        self.delivered = 0

    def stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> None:
        """Deliver until stopped; reconnects when the database goes away."""
        backoff = 0.5
        while not self.stopping:
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"listen {CHANNEL}")
                    log.info("worker listening on %s", CHANNEL)
                    backoff = 0.5
                    self._loop(conn)
            except psycopg.OperationalError as exc:
                log.warning("database unavailable (%s); retrying in %.1f s", exc, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _loop(self, conn: psycopg.Connection) -> None:
        while not self.stopping:
            attempted = conn.execute(
                "select prospectpro.deliver_due(%s)", (self.batch,)
            ).fetchone()[0]
            self.delivered += attempted
            if attempted >= self.batch:
                continue  # more may be due right now
            due_in = conn.execute("select prospectpro.next_due_in()").fetchone()[0]
            self._wait(conn, self.idle if due_in is None else min(due_in, self.idle))

    def _wait(self, conn: psycopg.Connection, seconds: float) -> None:
        """Sleep until a notification, the deadline, or a stop request."""
        deadline = time.monotonic() + seconds
        while not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for _ in conn.notifies(timeout=min(left, STOP_CHECK), stop_after=1):
                return

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(STOP_CHECK, deadline - time.monotonic()))


def run(dsn: str, batch: int, idle: float) -> int:
    worker = Worker(dsn, batch, idle)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run()
    log.info("worker stopped after %d attempts", worker.delivered)
    return 0
