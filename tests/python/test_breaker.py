"""The circuit breaker: consecutive failures open it; while open, waiting
events spend no attempts and probes go out 1 s after it opened, then after a
fifteenth of the time open, up to probe_interval; the first success closes
it; 410 Gone disables the endpoint until an admin re-enables it."""

from __future__ import annotations

import time

import httpx
import pytest
from conftest import TOKEN, wait_until
from prospectpro_dev.sink import Answer
from test_delivery import deliver, emit


def breaker(db) -> tuple:
    return db.execute(
        "select breaker_state, consecutive_failures from prospectpro.endpoint_status"
        " where webhook_type = 'lead_enrichment'"
    ).fetchone()


def attempts(db) -> list[int]:
    return [
        r[0] for r in db.execute("select attempts from prospectpro.outbox order by id").fetchall()
    ]


def test_open_probe_close(db, sink):
    db.execute(
        "select prospectpro.configure_endpoint('lead_enrichment', %s, 'tok',"
        " retry_schedule => '{0,0,0,0,0}', breaker_threshold => 3, probe_interval => 0.5)",
        (sink.url,),
    )
    sink.default = Answer(500)
    emit(db, 3)
    assert deliver(db) == 3
    assert breaker(db) == ("open", 3)

    emit(db, 5)
    assert deliver(db) == 0  # open: nothing is sent before the probe is due
    assert attempts(db) == [1, 1, 1, 0, 0, 0, 0, 0]

    wait_until(lambda: db.execute("select prospectpro.next_due_in() = 0").fetchone()[0])
    assert deliver(db) == 1  # one probe
    assert breaker(db) == ("open", 4)
    assert sum(attempts(db)) == 4

    sink.default = Answer(200)
    wait_until(lambda: db.execute("select prospectpro.next_due_in() = 0").fetchone()[0])
    assert deliver(db) == 1  # the probe succeeds and closes the breaker
    assert breaker(db) == ("closed", 0)
    assert deliver(db) == 7
    assert db.execute(
        "select count(*) from prospectpro.outbox where status = 'delivered'"
    ).fetchone() == (8,)


def test_410_gone_disables_until_re_enabled(db, sink):
    db.execute("select prospectpro.configure_endpoint('lead_enrichment', %s, 'tok')", (sink.url,))
    sink.answer(Answer(410))
    emit(db, 1)
    deliver(db)
    assert breaker(db) == ("disabled", 1)
    reason = db.execute(
        "select reason from prospectpro.endpoint_status where webhook_type = 'lead_enrichment'"
    ).fetchone()[0]
    assert "410" in reason
    emit(db, 2)
    db.execute("update prospectpro.outbox set next_attempt_at = now()")
    assert deliver(db) == 0
    assert db.execute("select prospectpro.next_due_in()").fetchone() == (None,)

    db.execute("select prospectpro.enable_endpoint('lead_enrichment')")
    assert deliver(db) == 3
    assert breaker(db) == ("closed", 0)


def test_breaker_state_shows_in_health_and_metrics(db, start_receiver, sink):
    base = start_receiver(WEBHOOK_AUTH_TOKEN=TOKEN, METRICS_CACHE_SECONDS="0")
    db.execute(
        "select prospectpro.configure_endpoint('cost_alert', %s, 'tok', breaker_threshold => 1)",
        (sink.url,),
    )
    sink.default = Answer(503)
    db.execute("select prospectpro._emit('cost_alert', '{}')")
    deliver(db)
    health = httpx.get(base + "/api/webhooks/cost-alert/health", timeout=5)
    assert health.status_code == 503
    assert health.json()["checks"]["breaker"] == {"ok": False, "state": "open"}
    metrics = httpx.get(base + "/metrics", timeout=5).text
    assert 'prospectpro_endpoint_breaker_open{webhook_type="cost_alert"} 1.0' in metrics


def probe_gap(db) -> float:
    """Seconds from the breaker's last change to its next probe."""
    return db.execute(
        "select extract(epoch from next_probe_at - updated_at)::float8"
        " from prospectpro.endpoint_health where webhook_type = 'lead_enrichment'"
    ).fetchone()[0]


def fail_a_probe(db, open_for: float) -> None:
    """Let the breaker have been open ``open_for`` seconds, and its next probe fail."""
    db.execute(
        "update prospectpro.endpoint_health set next_probe_at = clock_timestamp(),"
        " opened_at = clock_timestamp() - %s * interval '1 s'"
        " where webhook_type = 'lead_enrichment'",
        (open_for,),
    )
    db.execute("update prospectpro.outbox set next_attempt_at = now() where status = 'pending'")
    assert deliver(db) == 1


def test_an_open_breaker_probes_after_a_second_then_backs_off_to_probe_interval(db, sink):
    db.execute(
        "select prospectpro.configure_endpoint('lead_enrichment', %s, 'tok',"
        " breaker_threshold => 3, probe_interval => 30)",
        (sink.url,),
    )
    sink.default = Answer(503)
    emit(db, 5)
    assert deliver(db) == 5
    assert breaker(db) == ("open", 5)
    assert probe_gap(db) == pytest.approx(1, abs=0.01)  # the first probe: 1 s after opening
    gaps = []
    for open_for in (10, 30, 60, 120, 600):
        fail_a_probe(db, open_for)
        gaps.append(round(probe_gap(db), 1))
    # A fifteenth of the time open (2 s at 30 s: an outage that short is followed
    # by a probe within 2 s of its end), then one probe per probe_interval.
    assert gaps == [1.0, 2.0, 4.0, 8.0, 30.0]
    assert breaker(db) == ("open", 10)
    # Opened at its first failure, not at each probe.
    assert db.execute(
        "select clock_timestamp() - opened_at > interval '590 s' from prospectpro.endpoint_status"
        " where webhook_type = 'lead_enrichment'"
    ).fetchone() == (True,)


def test_delivery_resumes_within_seconds_of_a_short_outage(db, sink, start_worker):
    """A receiver restarting (503 for 3 s) while 200 events wait opens the breaker
    at once; delivery resumes within about 2 s of recovery, not at the next
    probe_interval (30 s)."""
    db.execute("select prospectpro.configure_endpoint('lead_enrichment', %s, 'tok')", (sink.url,))
    sink.default = Answer(503)
    start_worker()
    emit(db, 200)
    wait_until(lambda: breaker(db)[0] == "open")
    time.sleep(3)
    sink.default = Answer(200)
    recovered = time.monotonic()
    wait_until(
        lambda: db.execute(
            "select count(*) = 200 from prospectpro.outbox where status = 'delivered'"
        ).fetchone()[0],
        timeout=30,
    )
    assert time.monotonic() - recovered < 5
    assert breaker(db) == ("closed", 0)
