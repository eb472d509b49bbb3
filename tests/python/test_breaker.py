"""The circuit breaker: consecutive failures open it, one probe per interval
while open (waiting events spend no attempts), the first success closes it;
410 Gone disables the endpoint until an admin re-enables it."""

from __future__ import annotations

import httpx
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
