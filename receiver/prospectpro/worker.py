"""The delivery worker: runs prospectpro.deliver_due() when woken or due.

While rounds find several events each (they arrive faster than rounds run),
it runs a round every GATHER seconds at most, each taking what arrived while
the previous one was in flight, and waits longer after rounds that find little
before it sleeps: under steady load rounds are few and full, and writers send
no NOTIFY at all. Otherwise it LISTENs: before sleeping it
arms the wakeup (prospectpro.arm_wakeup), so transactions that queue events
send a NOTIFY and the event is sent within milliseconds; once awake it
disarms it (prospectpro.disarm_wakeup). Writers only read the flag, so no
writer waits on another for it. With nothing due it sleeps until the next
retry falls due. All delivery logic is in the database; any number of
workers may run against one database (claims use FOR UPDATE SKIP LOCKED).

Of several workers, one gathers (it holds an advisory lock while it does); the
others run a round every FOLLOW seconds, and keep running rounds while those
find full batches (the queue outgrew one worker), but neither arm the wakeup nor
split the gatherer's rounds into small ones: extra workers add capacity, not
rounds, wakeups and NOTIFYs that writers would pay for.
"""

from __future__ import annotations

import json
import logging
import signal
import time

import psycopg

CHANNEL = "prospectpro_outbox"
# As its database session shows in pg_stat_activity, unless the URL names another.
APPLICATION_NAME = "prospectpro worker"
# How long a sleeping worker waits between checks of its stop flag.
STOP_CHECK = 0.5
# After arming the wakeup, look for due events this many times, this often.
CATCHUP_POLLS = 5
CATCHUP_SLICE = 0.005
# Events due but held back by an earlier one of their ordering key.
BLOCKED_RETRY = 0.05
# While rounds find events: the least time between the starts of two rounds.
GATHER = 0.005
# Rounds that find little before the gathering worker sleeps: it waits twice
# as long after each (GATHER, 2 GATHER, 4 GATHER), then arms the wakeup.
QUIET_ROUNDS = 2
# A worker while another gathers: the time between the starts of its rounds.
FOLLOW = 0.05
# The advisory lock the gathering worker holds (the bytes of "prospect").
GATHER_LOCK = 0x70726F7370656374
# How often a worker makes the time partitions ahead of need (as prune does).
MAINTAIN_EVERY = 300.0

log = logging.getLogger("prospectpro.worker")


class Worker:
    def __init__(
        self, dsn: str, batch: int = 100, idle: float = 1.0, gather: float = GATHER
    ) -> None:
        self.dsn = dsn
        self.batch = batch
        self.idle = idle
        self.gather = gather
        self.stopping = False
        self.delivered = 0
        self.gathering = False  # holds GATHER_LOCK
        self.maintained_at = float("-inf")

    def stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> None:
        """Deliver until stopped; reconnects when the database goes away."""
        backoff = 0.5
        while not self.stopping:
            try:
                with psycopg.connect(
                    self.dsn, autocommit=True, fallback_application_name=APPLICATION_NAME
                ) as conn:
                    conn.execute(f"listen {CHANNEL}")
                    log.info("worker listening on %s", CHANNEL)
                    backoff = 0.5
                    self._loop(conn)
                    self._log_costs(conn)
            except psycopg.OperationalError as exc:
                log.warning("database unavailable (%s); retrying in %.1f s", exc, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def _loop(self, conn: psycopg.Connection) -> None:
        self.gathering = False  # a new session holds no lock
        quiet = QUIET_ROUNDS + 1  # rounds in a row that found one event or none
        while not self.stopping:
            started = time.monotonic()
            if started - self.maintained_at >= MAINTAIN_EVERY:
                self._maintain(conn)
                self.maintained_at = started
            attempted = conn.execute(
                "select prospectpro.deliver_due(%s)", (self.batch,)
            ).fetchone()[0]
            self.delivered += attempted
            if attempted >= self.batch:
                continue  # more may be due right now
            quiet = 0 if attempted > 1 else quiet + 1
            # Events arrive faster than rounds run: gather what comes meanwhile
            # for the next round rather than ask writers for a NOTIFY, backing
            # off over rounds that find little; or another worker gathers, and
            # this one only follows.
            if quiet <= QUIET_ROUNDS and self._gather(conn, True):
                pause = self.gather * 2**quiet
            elif not self._gather(conn, False):
                pause = FOLLOW
            else:
                pause = None
            if pause is not None:
                time.sleep(max(0.0, started + pause - time.monotonic()))
                continue
            # Ask the next writers for a NOTIFY, then look once more: events
            # committed meanwhile would otherwise wait for the next writer.
            conn.execute("select prospectpro.arm_wakeup()")
            due_in = self._due_in(conn)
            if due_in == 0:
                due_in = BLOCKED_RETRY  # due but held back (ordering): do not spin
            self._wait(conn, self.idle if due_in is None else min(due_in, self.idle))
            # Awake: no more NOTIFYs until a worker sleeps again; drop those queued.
            conn.execute("select prospectpro.disarm_wakeup()")
            for _ in conn.notifies(timeout=0):
                pass

    def _gather(self, conn: psycopg.Connection, busy: bool) -> bool:
        """Whether this worker is (busy) or may be (idle) the one that gathers.

        Busy, it takes the lock unless another worker holds it; idle, it lets
        the lock go, and says whether another worker still holds it.
        """
        if busy != self.gathering:
            call = "pg_try_advisory_lock" if busy else "pg_advisory_unlock"
            taken = conn.execute(f"select {call}(%s)", (GATHER_LOCK,)).fetchone()[0]
            self.gathering = busy and taken
        if busy:
            return self.gathering
        # Nobody gathers when the lock is free: then this worker may sleep armed.
        free = conn.execute("select pg_try_advisory_lock(%s)", (GATHER_LOCK,)).fetchone()[0]
        if free:
            conn.execute("select pg_advisory_unlock(%s)", (GATHER_LOCK,))
        return free

    @staticmethod
    def _maintain(conn: psycopg.Connection) -> None:
        """Make the outbox's, the attempt log's and the idempotency records' time
        partitions ahead of need; dropping old ones is prune's, on the user's schedule."""
        try:
            made = conn.execute("select prospectpro.maintain_partitions()").fetchone()[0]
        except psycopg.OperationalError:
            raise  # the connection: run() reconnects
        except psycopg.DatabaseError as exc:  # delivery goes on; the next try may do
            log.warning("could not make time partitions ahead: %s", exc)
            return
        if made:
            log.info("made %d time partitions ahead of need", made)

    @staticmethod
    def _log_costs(conn: psycopg.Connection) -> None:
        """What this session's rounds cost the database server, per event and phase."""
        costs = conn.execute("select prospectpro.delivery_round_costs()").fetchone()[0]
        events = costs["events"] or 1
        # The phases are what the round reports, beside its two counts.
        phases = ", ".join(
            f"{phase} {seconds * 1e6 / events:.0f}"
            for phase, seconds in costs.items()
            if phase not in ("rounds", "events")
        )
        log.info("round costs %s; backend CPU µs per event: %s", json.dumps(costs), phases)

    @staticmethod
    def _due_in(conn: psycopg.Connection) -> float | None:
        return conn.execute("select prospectpro.next_due_in()").fetchone()[0]

    def _wait(self, conn: psycopg.Connection, seconds: float) -> None:
        """Sleep until a notification, the deadline, or a stop request.

        The first CATCHUP_POLLS slices also look for due events: a writer whose
        transaction began before this worker armed the wakeup sends no NOTIFY.
        """
        deadline = time.monotonic() + seconds
        polls = 0
        while not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            catching_up = polls < CATCHUP_POLLS
            for _ in conn.notifies(
                timeout=min(left, CATCHUP_SLICE if catching_up else STOP_CHECK), stop_after=1
            ):
                return
            if catching_up:
                polls += 1
                if self._due_in(conn) == 0:
                    return

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(STOP_CHECK, deadline - time.monotonic()))


def run(dsn: str, batch: int, idle: float, gather: float = GATHER) -> int:
    worker = Worker(dsn, batch, idle, gather)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run()
    log.info("worker stopped after %d attempts", worker.delivered)
    return 0
