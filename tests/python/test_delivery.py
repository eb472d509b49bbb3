"""Delivery rounds against a real cluster and a real loopback HTTP sink."""

from __future__ import annotations

import itertools
import json
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest
import trustme
from conftest import wait_until
from prospectpro_dev.sink import Answer, Sink
from standardwebhooks.webhooks import Webhook
from test_delivery_client import tls_server

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def configure(db, url, **options):
    names = ", ".join(f"{k} => %({k})s" for k in options)
    db.execute(
        "select prospectpro.configure_endpoint('lead_enrichment', %(url)s, 'tok'"
        + (", " + names if names else "")
        + ")",
        {"url": url, **options},
    )


def emit(db, count=1, webhook_type="lead_enrichment"):
    rows = db.execute(
        "select prospectpro._emit(%s, jsonb_build_object('n', n)) from generate_series(1, %s) n",
        (webhook_type, count),
    ).fetchall()
    return [r[0] for r in rows]


def event(db, event_id):
    return db.execute(
        "select status, attempts, next_attempt_at - clock_timestamp() as due_in, last_error"
        " from prospectpro.outbox where id = %s",
        (event_id,),
    ).fetchone()


def logs(db, event_id):
    return db.execute(
        "select attempt, status, http_status, error from prospectpro.webhook_logs"
        " where event_id = %s order by attempt, created_at",
        (event_id,),
    ).fetchall()


def deliver(db, n=100):
    return db.execute("select prospectpro.deliver_due(%s)", (n,)).fetchone()[0]


def test_success_sends_bearer_token_and_standard_webhooks_headers(db, sink):
    configure(db, sink.url, signing_secret=SECRET)
    (event_id,) = emit(db)
    assert deliver(db) == 1

    (request,) = sink.received
    webhook_id, payload = db.execute(
        "select webhook_id::text, payload from prospectpro.outbox where id = %s", (event_id,)
    ).fetchone()
    assert request.headers["authorization"] == "Bearer tok"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == webhook_id
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    # An independent implementation of the spec accepts the signature.
    assert Webhook(SECRET).verify(request.body, request.headers) == payload
    assert json.loads(request.body) == payload
    assert event(db, event_id)[:2] == ("delivered", 1)
    assert logs(db, event_id) == [(1, "success", 200, None)]


def test_failures_are_retried_at_1_then_2_seconds_with_jitter(db, sink, start_worker):
    configure(db, sink.url)
    sink.answer(Answer(500), Answer(500))
    (event_id,) = emit(db)
    start_worker()
    arrivals = [r.at for r in sink.wait_for(3, timeout=15)]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # 10 % jitter, plus a little for the worker's wake-up and the round itself.
    assert 0.9 <= gaps[0] <= 1.1 + 0.25, gaps
    assert 1.8 <= gaps[1] <= 2.2 + 0.25, gaps
    wait_until(lambda: event(db, event_id)[0] == "delivered")
    assert logs(db, event_id) == [
        (1, "failed", 500, "HTTP 500"),
        (2, "failed", 500, "HTTP 500"),
        (3, "success", 200, None),
    ]


def test_timeout_is_a_failed_attempt(db, sink):
    configure(db, sink.url, timeout_ms=300)
    sink.answer(Answer(delay=2.0))
    (event_id,) = emit(db)
    started = time.monotonic()
    deliver(db)
    assert time.monotonic() - started < 1.5
    assert logs(db, event_id) == [(1, "failed", None, "timeout after 0.3 s")]
    status, attempts, due_in, _ = event(db, event_id)
    assert (status, attempts) == ("pending", 1)
    assert 0.8 <= due_in.total_seconds() <= 1.1


def test_refused_connection_is_a_failed_attempt(db, sink):
    configure(db, "http://127.0.0.1:9/nothing-listens-here")
    (event_id,) = emit(db)
    deliver(db)
    ((attempt, status, http_status, error),) = logs(db, event_id)
    assert (attempt, status, http_status) == (1, "failed", None)
    assert error.startswith("connection failed")


def test_reset_connection_is_a_failed_attempt(db, sink):
    configure(db, sink.url)
    sink.answer(Answer(reset=True))
    (event_id,) = emit(db)
    deliver(db)
    ((_, status, http_status, error),) = logs(db, event_id)
    assert (status, http_status) == ("failed", None)
    assert error.startswith("connection")


def test_dead_after_the_last_retry_then_redelivered(db, sink):
    configure(db, sink.url, retry_schedule=[0.05, 0.05])
    sink.default = Answer(503)
    (event_id,) = emit(db)
    for _ in range(3):
        wait_until(lambda: event(db, event_id)[2].total_seconds() <= 0)
        deliver(db)
    assert event(db, event_id)[:2] == ("dead", 3)
    assert [row[1] for row in logs(db, event_id)] == ["failed"] * 3
    assert deliver(db) == 0  # dead events are not attempted again

    sink.default = Answer(200)
    assert db.execute("select prospectpro.redeliver(%s)", (event_id,)).fetchone()[0] == 1
    deliver(db)
    assert event(db, event_id)[:2] == ("delivered", 1)


def test_redeliver_all_dead_events_of_a_type(db, sink):
    configure(db, sink.url, retry_schedule=[])
    sink.default = Answer(500)
    ids = emit(db, 3)
    deliver(db)
    assert {event(db, i)[0] for i in ids} == {"dead"}
    sink.default = Answer(200)
    assert db.execute("select prospectpro.redeliver('lead_enrichment')").fetchone()[0] == 3
    deliver(db)
    assert {event(db, i)[0] for i in ids} == {"delivered"}


def test_retry_after_is_honoured(db, sink):
    configure(db, sink.url, retry_schedule=[0.1])
    sink.answer(Answer(503, headers={"Retry-After": "3"}))
    (event_id,) = emit(db)
    deliver(db)
    assert 2.9 <= event(db, event_id)[2].total_seconds() <= 3.0


def test_events_of_an_unconfigured_type_wait_until_configured(db, sink):
    (event_id,) = emit(db, webhook_type="cost_alert")
    assert deliver(db) == 0
    assert event(db, event_id)[0] == "pending"
    db.execute("select prospectpro.configure_endpoint('cost_alert', %s, 'tok')", (sink.url,))
    assert deliver(db) == 1
    assert event(db, event_id)[0] == "delivered"


def test_database_settings_are_the_fallback_configuration(db, dsn, sink):
    dbname = db.info.dbname
    db.execute(f"alter database {dbname} set app.lead_enrichment_webhook_url = '{sink.url}'")
    db.execute(f"alter database {dbname} set app.webhook_token = 'from-settings'")
    emit(db)
    with psycopg.connect(dsn, autocommit=True) as fresh:  # settings apply to new sessions
        assert deliver(fresh) == 1
    assert sink.received[0].headers["authorization"] == "Bearer from-settings"


def test_two_workers_deliver_1000_events_once_each(db, sink, start_worker):
    configure(db, sink.url)
    start_worker()
    start_worker()
    ids = emit(db, 1000)
    received = sink.wait_for(1000, timeout=60)
    wait_until(
        lambda: db.execute(
            "select count(*) = 1000 from prospectpro.outbox where status = 'delivered'"
        ).fetchone()[0]
    )
    webhook_ids = [r.headers["webhook-id"] for r in received]
    assert len(set(webhook_ids)) == len(webhook_ids) == len(ids)
    counts = db.execute(
        "select count(*), count(distinct event_id) from prospectpro.webhook_logs"
        " where status = 'success'"
    ).fetchone()
    assert counts == (1000, 1000)


def test_extra_workers_follow_the_one_that_gathers(dsn, db, sink, start_worker):
    """Under steady load one of three workers gathers; the others neither arm the
    wakeup (writers would NOTIFY, serialising their commits) nor split its rounds."""
    configure(db, sink.url)
    for _ in range(3):
        start_worker()
    wait_until(
        lambda: db.execute(
            "select count(*) = 3 from pg_stat_activity"
            " where application_name = 'prospectpro worker' and datname = current_database()"
        ).fetchone()[0]
    )
    sent = 0
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("listen prospectpro_outbox")
        # 2 s of 10 events every 10 ms; the NOTIFYs of the last second are counted.
        for tick in range(200):
            if tick == 100:
                list(listener.notifies(timeout=0))
            sent += len(emit(db, 10))
            time.sleep(0.01)
        notifications = len(list(listener.notifies(timeout=0)))
    sink.wait_for(sent, timeout=30)
    # 79 when each worker armed the wakeup between its small rounds; a few when
    # a starved machine makes the gatherer's rounds find little.
    assert notifications <= 20, f"{notifications} NOTIFYs in the last second"
    assert (
        db.execute(
            "select count(*) from pg_locks where locktype = 'advisory' and granted"
        ).fetchone()[0]
        <= 1
    )


def test_one_notification_per_transaction_and_only_while_a_worker_sleeps(dsn, db):
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("listen prospectpro_outbox")

        def notifications() -> int:
            return len(list(listener.notifies(timeout=0.5)))

        listener.execute("select prospectpro.arm_wakeup()")  # a worker goes to sleep
        with db.transaction(force_rollback=True):
            emit(db, 5)
        assert notifications() == 0  # rolled back: no event, no NOTIFY
        with db.transaction():
            for _ in range(3):
                emit(db, 50)
        assert notifications() == 1  # three statements, one transaction, one NOTIFY
        emit(db, 10)
        assert notifications() == 1  # until the worker says it is awake
        listener.execute("select prospectpro.disarm_wakeup()")
        emit(db, 10)
        assert notifications() == 0  # the worker is awake: writers send none
        listener.execute("select prospectpro.arm_wakeup()")
        emit(db, 10)
        assert notifications() == 1


def test_a_writer_committing_after_the_worker_slept_still_wakes_it(dsn, db, sink, start_worker):
    """A transaction queues its event while the worker is awake (no NOTIFY asked
    for then) and commits after the worker went to sleep: the wakeup flag is read
    at commit, so the event arrives within milliseconds, not at the idle poll."""
    configure(db, sink.url)
    start_worker("--idle", "2")
    emit(db)
    sink.wait_for(1, timeout=10)
    latencies = []
    for hold in (0.4, 1.0):
        arrived = len(sink.received)
        sink.answer(Answer(delay=0.3))  # keeps the worker's round, and the worker, awake
        emit(db)  # wakes the worker
        sink.wait_for(arrived + 1)
        with psycopg.connect(dsn) as writer:
            writer.execute("select prospectpro._emit('lead_enrichment', '{\"late\": true}')")
            time.sleep(hold)  # meanwhile the round ends and the worker goes to sleep
            writer.commit()
            committed = time.time()
        late = sink.wait_for(arrived + 2, timeout=5)[arrived + 1]
        assert json.loads(late.body) == {"late": True}
        latencies.append((late.at - committed) * 1000)
    assert max(latencies) < 25, latencies


def test_a_round_with_nothing_to_do_writes_nothing(dsn, db):
    """An idle worker's rounds take no lock and write no WAL: their commits wait
    for no flush. A round with leads to count writes."""
    (campaign,) = db.execute(
        "insert into prospectpro.campaigns (name) values ('Idle') returning id"
    ).fetchone()
    db.execute("update prospectpro.campaigns set status = 'processing' where id = %s", (campaign,))
    db.execute(
        "insert into prospectpro.enhanced_leads (campaign_id, business_name) values (%s, 'L')",
        (campaign,),
    )
    with psycopg.connect(dsn) as conn:

        def round_writes() -> bool:
            with conn.transaction():
                deliver(conn)
                return conn.execute("select pg_current_xact_id_if_assigned()").fetchone()[0]

        def leads() -> int:
            return db.execute("select prospectpro.campaign_lead_total(%s)", (campaign,)).fetchone()[
                0
            ]

        def counted_after_a_round() -> bool:
            round_writes()
            return leads() == 1

        assert round_writes()  # it counts the lead, or takes the stretch to count next
        # Counted once no transaction that could commit an earlier event is open.
        wait_until(counted_after_a_round, timeout=5)
        assert not round_writes()
        assert not round_writes()
    assert leads() == 1


def test_rounds_add_their_cpu_by_phase_to_the_sessions_costs(db, sink):
    configure(db, sink.url)
    emit(db, 30)
    assert deliver(db) == 30
    assert deliver(db) == 0  # an empty round is a round, with its claim
    costs = db.execute("select prospectpro.delivery_round_costs()").fetchone()[0]
    assert (costs["rounds"], costs["events"]) == (2, 30)
    assert all(costs[phase] > 0 for phase in ("pass", "claim", "sign", "send", "record"))
    # per session: another session's rounds are its own
    with psycopg.connect(db.info.dsn, autocommit=True) as other:
        assert (
            other.execute("select prospectpro.delivery_round_costs()").fetchone()[0]["rounds"] == 0
        )


def test_a_rolled_back_event_never_existed(db):
    with db.transaction(force_rollback=True):
        emit(db, 10)
    assert db.execute("select count(*) from prospectpro.outbox").fetchone()[0] == 0


def test_session_reloads_the_package_when_the_version_changes(db, sink):
    configure(db, sink.url)
    module_id = (
        "do $$ import sys; plpy.notice(str(id(sys.modules['prospectpro_pl.delivery']))) $$"
        " language plpython3u"
    )
    notices = []
    db.add_notice_handler(lambda d: notices.append(d.message_primary))
    deliver(db)
    db.execute(module_id)
    db.execute("do $$ GD['prospectpro_pl'] = 'an older version' $$ language plpython3u")
    deliver(db)
    db.execute(module_id)
    assert len(notices) == 2 and notices[0] != notices[1]


@pytest.mark.parametrize("bad", [0, -1, 10001, None])
def test_deliver_due_rejects_a_bad_batch_size_with_a_hint(db, bad):
    with pytest.raises(psycopg.errors.Error) as caught:
        deliver(db, bad)
    assert "max_events" in caught.value.diag.message_primary
    assert caught.value.diag.message_hint


def test_next_due_in_is_null_when_nothing_waits(db, sink):
    configure(db, sink.url, retry_schedule=[30])
    assert db.execute("select prospectpro.next_due_in()").fetchone() == (None,)
    sink.default = Answer(500)
    emit(db)
    assert db.execute("select prospectpro.next_due_in()").fetchone() == (0,)
    deliver(db)
    assert 27 <= db.execute("select prospectpro.next_due_in()").fetchone()[0] <= 33


@pytest.mark.parametrize(
    ("answer", "excerpt"),
    [
        # chunked, with an interim 100 Continue before it
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\n"
            b"transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            "hello world",
        ),
        # no length: the body ends with the connection
        (b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\ndone", "done"),
        (b"HTTP/1.0 204 No Content\r\ncontent-length: 0\r\n\r\n", None),
        # no body and no length, on a connection kept open (nginx, Node, http.server)
        (b"HTTP/1.1 204 No Content\r\nserver: x\r\n\r\n", None),
        # chunked with an extension and trailers
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            b"2;x=y\r\nok\r\n0\r\nx-digest: 1\r\n\r\n",
            "ok",
        ),
    ],
)
def test_answers_in_each_http_framing_are_read(db, answer, excerpt):
    """The delivery client reads interim, chunked, close-delimited, bodiless and
    HTTP/1.0 answers by their framing: only a close-delimited one is ended by a close."""
    received = []
    delivered = threading.Event()

    def serve(sock):
        conn, _ = sock.accept()
        with conn:
            received.append(conn.recv(65536))
            conn.sendall(answer)
            if b"connection: close" not in answer:  # else the close ends the body
                delivered.wait(5)

    with socket.create_server(("127.0.0.1", 0)) as sock:
        thread = threading.Thread(target=serve, args=(sock,), daemon=True)
        thread.start()
        configure(db, f"http://127.0.0.1:{sock.getsockname()[1]}/in?x=1")
        (event_id,) = emit(db)
        started = time.monotonic()
        assert deliver(db) == 1
        assert time.monotonic() - started < 2  # not the 10 s timeout
        delivered.set()
        thread.join(5)
    assert received[0].startswith(b"POST /in?x=1 HTTP/1.1\r\nhost: 127.0.0.1:")
    assert event(db, event_id)[0] == "delivered"
    assert db.execute(
        "select response_excerpt from prospectpro.webhook_logs where event_id = %s", (event_id,)
    ).fetchone() == (excerpt,)


def endpoint_row(db, webhook_type, url):
    """An endpoint written as release 1.0 allowed, before configure_endpoint checked URLs."""
    db.execute(
        "insert into prospectpro.endpoints (webhook_type, url, token) values (%s, %s, 'tok')"
        " on conflict (webhook_type) do update set url = excluded.url",
        (webhook_type, url),
    )


@pytest.mark.parametrize(
    ("poison", "error"),
    [
        # (an endpoint whose URL does not parse is unconfigured instead: see below)
        ("http://bücher.invalid/ä", "DNS lookup failed for xn--bcher-kva.invalid: "),
        ("http://127.0.0.1:9/refused", "connection failed"),
    ],
)
def test_a_poisoned_endpoint_fails_alone_and_the_round_delivers_the_rest(db, poison, error):
    with Sink() as lead_sink, Sink() as lifecycle_sink:
        configure(db, lead_sink.url)
        db.execute(
            "select prospectpro.configure_endpoint('campaign_lifecycle', %s, 'tok')",
            (lifecycle_sink.url,),
        )
        endpoint_row(db, "cost_alert", poison)
        leads = emit(db, 3)
        (alert,) = emit(db, webhook_type="cost_alert")
        lifecycle = emit(db, 2, webhook_type="campaign_lifecycle")
        assert deliver(db) == 6  # one round, every type
        assert (len(lead_sink.received), len(lifecycle_sink.received)) == (3, 2)
    assert {event(db, e)[0] for e in leads + lifecycle} == {"delivered"}
    ((attempt, status, http_status, logged),) = logs(db, alert)
    assert (attempt, status, http_status) == (1, "failed", None)
    assert logged.startswith(error) and "tok" not in logged
    assert event(db, alert)[:2] == ("pending", 1)


def test_an_invalid_fallback_url_shows_as_misconfigured_and_its_events_wait(db, dsn, sink):
    dbname = db.info.dbname
    db.execute(f"alter database {dbname} set app.cost_alert_webhook_url = 'http://[::1/x'")
    (event_id,) = emit(db, webhook_type="cost_alert")
    with psycopg.connect(dsn, autocommit=True) as fresh:  # settings apply to new sessions
        assert fresh.execute(
            "select configured, config_error from prospectpro.endpoint_status"
            " where webhook_type = 'cost_alert'"
        ).fetchone() == (False, "app.cost_alert_webhook_url: malformed URL: Invalid IPv6 URL")
        assert deliver(fresh) == 0
        assert fresh.execute("select prospectpro.next_due_in()").fetchone() == (None,)
    assert event(db, event_id)[:2] == ("pending", 0)
    db.execute(f"alter database {dbname} set app.cost_alert_webhook_url = '{sink.url}'")
    with psycopg.connect(dsn, autocommit=True) as fresh:
        assert fresh.execute(
            "select configured, config_error from prospectpro.endpoint_status"
            " where webhook_type = 'cost_alert'"
        ).fetchone() == (True, None)
        assert deliver(fresh) == 1
    assert event(db, event_id)[0] == "delivered"


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def ca_file(ca):
    """The throwaway CA's PEM where the server's OS user can read it."""
    folder = Path(tempfile.mkdtemp(prefix="prospectpro-ca-"))
    folder.chmod(0o755)
    path = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    path.chmod(0o644)
    yield str(path)
    shutil.rmtree(folder)


@pytest.mark.parametrize(
    ("name", "trusted", "error"),
    [
        ("127.0.0.1", True, None),
        ("127.0.0.1", False, "TLS certificate not accepted: unable to get local issuer"),
        ("example.test", True, "TLS certificate not accepted: IP address mismatch"),
    ],
)
def test_https_verifies_the_certificate_against_the_endpoints_ca_file(
    db, ca, ca_file, name, trusted, error
):
    with Sink(tls=tls_server(ca, name)) as server:
        configure(db, server.url, ca_file=ca_file if trusted else None)
        events = emit(db, 3)
        assert deliver(db) == 3
    if error is None:
        assert {event(db, e)[0] for e in events} == {"delivered"}
        assert len(server.received) == 3
    else:
        assert {logs(db, e)[0][3][: len(error)] for e in events} == {error}
        assert not server.received


def test_an_event_held_back_by_its_ordering_key_is_due_when_the_earlier_one_is(db, sink):
    """A worker sleeps until the earlier event's retry, not a spin of empty rounds."""
    configure(db, sink.url, retry_schedule=[30, 30], jitter=0)
    sink.answer(Answer(503))
    first, later = (
        db.execute(
            "insert into prospectpro.outbox (webhook_type, payload, ordering_key)"
            " values ('lead_enrichment', '{}', 'campaign:1') returning id"
        ).fetchone()[0]
        for _ in range(2)
    )
    assert deliver(db) == 1  # the first fails; the later one waits behind it
    due_in = db.execute("select prospectpro.next_due_in()").fetchone()[0]
    assert 29 < due_in <= 30
    assert event(db, later)[:2] == ("pending", 0)
    assert event(db, first)[:2] == ("pending", 1)


@pytest.mark.parametrize(
    "bad",
    [
        lambda url: url.replace("http://", "http://user:pw@") + "#frag",  # 1.0 admitted it
        lambda url: "http://127.0.0.1:99999/x",
        lambda url: "http://[::1/x",
    ],
)
def test_an_endpoint_url_from_before_the_checks_leaves_its_type_waiting(db, sink, bad):
    """1.0 admitted userinfo and fragments, and its check was a pattern: a row that
    does not parse is a misconfiguration that endpoint_status names, and its events
    wait instead of going dead."""
    configure(db, sink.url)
    db.execute("update prospectpro.endpoints set url = %s", (bad(sink.url),))
    (event_id,) = emit(db)
    assert deliver(db) == 0
    assert event(db, event_id)[:2] == ("pending", 0)
    assert not sink.received
    configured, error = db.execute(
        "select configured, config_error from prospectpro.endpoint_status"
        " where webhook_type = 'lead_enrichment'"
    ).fetchone()
    assert not configured and error.startswith("endpoints.url: ")
