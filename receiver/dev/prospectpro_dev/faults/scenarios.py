"""The ten scenarios. Each commits a known set of events (one transaction
of them held open across the fault), injects the fault with real workers
running, and recovers; the harness then drains the outbox and verifies."""

from __future__ import annotations

import time

from ..sink import Answer
from .failover import failover
from .harness import HELD, Env
from .model import Profile, Scenario
from .proxy import RoundRobinProxy

QUICK = Profile(
    name="quick", events=300, outage=3, schedule=(0.2, 0.4, 0.8, 1.6, 3.2),
    hang_timeout_ms=300, probe_interval=0.5, kills=4, db_outage=1, crowd=2000,
    dead_schedule=(0.2, 0.4), settle=60,
)  # fmt: skip
FULL = Profile(
    name="full", events=2000, outage=30, schedule=(1, 2, 4, 8, 16, 32),
    hang_timeout_ms=10000, probe_interval=30, kills=10, db_outage=10, crowd=10000,
    dead_schedule=(1, 2, 4), settle=300,
)  # fmt: skip


def _fault_window(env: Env, *faults: Answer, **endpoint) -> None:
    """Answer with ``faults`` (in turn) for the outage while events are committed,
    then recover. ``endpoint``: configure_endpoint options."""
    env.configure(**endpoint)
    env.start_workers(2)
    env.sink.cycle(*faults)
    with env.holding():
        env.emit(env.p.events)
        env.wait_for("the first request", env.ledger.total)  # the outage starts when met
        time.sleep(env.p.outage)
    env.sink.cycle()
    env.say("endpoint recovered")


def endpoint_down(env: Env) -> None:
    env.configure()
    env.start_workers(2)
    env.emit(env.p.events // 2)
    env.settle()  # warm, idle keep-alive connections, then nothing listens
    env.sink.down()
    env.say("endpoint down: connections refused")
    with env.holding():
        env.emit(env.p.events // 2)
        time.sleep(env.p.outage)
    env.sink.up()
    env.say("endpoint up")
    env.expect_failures("error like 'connection failed%'", "refused connections")


def endpoint_failing(env: Env) -> None:
    _fault_window(env, Answer(500), Answer(503, headers={"retry-after": "1"}))
    env.expect_failures("http_status in (500, 503)", "HTTP 500 or 503")


def endpoint_hanging(env: Env) -> None:
    timeout = env.p.hang_timeout_ms / 1000
    hang = Answer(delay=2 * timeout + 0.5, reset="before")
    _fault_window(env, hang, timeout_ms=env.p.hang_timeout_ms)
    env.expect_failures("error like 'timeout%'", "timeouts")


def connections_reset(env: Env) -> None:
    resets = [Answer(reset="before"), Answer(reset="head"), Answer(reset="body")]
    _fault_window(env, *resets, Answer())
    env.expect_failures("error like 'connection reset%'", "reset connections")


def worker_killed(env: Env) -> None:
    env.configure()
    env.start_workers(2)
    env.sink.cycle(Answer(delay=0.5))  # rounds long enough to be caught in the middle
    signalled: set[int] = set()  # backends already doomed, or orphaned by a SIGKILL
    with env.holding():
        env.emit(2 * env.p.events)
        for kill in range(env.p.kills):
            worker, pid = env.wait_for(
                "a worker in the middle of a round", lambda: env.busy_backend(signalled)
            )
            signalled.add(pid)
            if kill % 2 == 0:
                worker.kill()
                env.say(f"SIGKILL {worker.name} in the middle of a round (backend {pid} goes on)")
                env.start_workers(1)
            else:
                env.sql("select pg_terminate_backend(%s)", (pid,))
                env.say(f"terminated {worker.name}'s backend {pid} in the middle of a round")
            time.sleep(0.3)
    env.sink.cycle()


def database_restarted(env: Env) -> None:
    env.configure()
    env.start_workers(2)
    env.sink.cycle(Answer(delay=0.1))
    with env.holding(crash=True):
        env.emit(env.p.events)
        env.wait_for("deliveries under way", lambda: env.ledger.total() >= env.p.events // 5)
        env.cluster.stop("immediate")
        env.say(f"PostgreSQL stopped (immediate) under load, down for {env.p.db_outage:g} s")
        time.sleep(env.p.db_outage)
        env.cluster.start()
        env.say("PostgreSQL restarted; the workers reconnect by themselves")
    env.emit(env.p.events // 2)
    env.sink.cycle()


def crowd(env: Env) -> None:
    ports = env.start_receivers(2)
    proxy = env.enter(RoundRobinProxy(ports))
    env.ledger = proxy.ledger
    env.say(f"two receivers on ports {ports[0]} and {ports[1]} behind a round-robin proxy")
    env.configure("campaign_lifecycle", proxy.base + "/api/webhooks/campaign-lifecycle")
    env.start_workers(4)
    with env.holding(kind="campaign_lifecycle"):
        env.emit(env.p.crowd - HELD, kind="campaign_lifecycle")
        env.wait_for("half delivered", lambda: env.ledger.total() >= env.p.crowd // 2)
    env.settle()
    split = [proxy.per_backend[port] for port in ports]
    env.say(f"requests per receiver: {split[0]} and {split[1]}")
    if not all(split):
        env.problem("one receiver got no request")


# A receiver restarting under load: the outage is a deploy's few seconds, the
# probe interval the default. Delivery must resume within about 2 s of the
# recovery (the breaker's probes then wait max(1, T / 15) s); the last delivery
# may come up to this long after it, draining the backlog included. A breaker
# that waited for its probe_interval would take 25 s or more.
BRIEF_OUTAGE = 4.0
RECOVERY_WITHIN = 5.0


def endpoint_down_briefly(env: Env) -> None:
    env.configure(probe_interval=30)
    env.start_workers(2)
    env.sink.cycle(Answer(503))
    with env.holding():
        env.emit(200)  # waiting when the outage starts: they open the breaker at once
        env.wait_for("the first request", env.ledger.total)
        down_until = time.monotonic() + BRIEF_OUTAGE
        while time.monotonic() < down_until:  # and more keep coming
            env.emit(20)
            time.sleep(0.5)
    env.sink.cycle()
    recovered = time.time()
    env.say("endpoint recovered")
    env.settle()
    took = env.ledger.last_acked - recovered
    env.say(f"recovery to the last delivery: {took:.2f} s")
    if took > RECOVERY_WITHIN:
        env.problem(f"the last delivery came {took:.1f} s after recovery (> {RECOVERY_WITHIN:g} s)")
    env.expect_failures("http_status = 503", "HTTP 503")


def endpoint_never_recovers(env: Env) -> None:
    schedule = env.p.dead_schedule
    attempts = 1 + len(schedule)
    # The breaker out of the way (it would hold the events back between probes),
    # so every event makes all its attempts: events x attempts stays below 10000.
    env.configure(retry_schedule=list(schedule), breaker_threshold=10000)
    env.start_workers(2)
    env.sink.cycle(Answer(503))
    with env.holding():
        env.emit(env.p.events)
    total = env.committed()
    env.wait_for(
        "every event dead",
        lambda: (
            env.scalar("select count(*) from prospectpro.outbox where status = 'dead'") == total
        ),
    )
    wrong = env.scalar(
        "select count(*) from prospectpro.outbox as o where o.attempts <> %(n)s"
        " or (select count(*) from prospectpro.webhook_logs as a"
        "     where a.event_id = o.id and a.status = 'failed') <> %(n)s",
        {"n": attempts},
    )
    if wrong:
        env.problem(f"{wrong} dead events without exactly {attempts} failed attempts")
    env.dead = total
    env.say(f"all {total} events dead after {attempts} attempts; the endpoint recovers")
    env.sink.cycle()
    revived = env.scalar("select prospectpro.redeliver('lead_enrichment')")
    env.say(f"one redeliver('lead_enrichment') call revived {revived}")
    if revived != total:
        env.problem(f"redeliver revived {revived} of {total} dead events")


# True: the fault may roll rounds back after their POSTs (at least once, see the legend).
SCENARIOS = [
    Scenario(1, "endpoint down {p.outage:g} s (refused)", endpoint_down),
    Scenario(2, "endpoint 500/503 {p.outage:g} s", endpoint_failing),
    Scenario(3, "endpoint hangs {p.outage:g} s ({p.hang_timeout_ms} ms timeout)", endpoint_hanging),
    Scenario(4, "connections reset {p.outage:g} s", connections_reset),
    Scenario(5, "worker/backend killed mid-round x{p.kills}", worker_killed, True),
    Scenario(6, "PostgreSQL down {p.db_outage:g} s (immediate)", database_restarted, True),
    Scenario(7, "4 workers, 2 receivers", crowd),
    Scenario(8, "endpoint never recovers", endpoint_never_recovers),
    Scenario(9, f"endpoint down {BRIEF_OUTAGE:g} s under load", endpoint_down_briefly),
    Scenario(10, "failover: primary SIGKILLed, standby promoted", failover, True),
]
