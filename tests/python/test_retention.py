"""Retention: prune() drops the time partitions past retention, keeping pending
and dead events and their attempts; it deletes the few rows of the default
partitions in batches that never wait on delivery; dead events stay until
discarded; the delivery counters never go down."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from conftest import needs_pg_cron, wait_until
from prospectpro_dev.cluster import PRIMARY_DB
from prospectpro_dev.sink import Answer
from test_delivery import configure, deliver, emit


def counts(db) -> tuple:
    return db.execute(
        "select (select count(*) from prospectpro.outbox where status = 'delivered'),"
        " (select count(*) from prospectpro.outbox where status = 'dead'),"
        " (select count(*) from prospectpro.webhook_logs)"
    ).fetchone()


def test_prune_deletes_old_delivered_events_of_the_default_partition_in_batches(db, dsn, sink):
    db.execute("select prospectpro.maintain_partitions()")
    configure(db, sink.url, retry_schedule=[])
    ids = emit(db, 30)
    deliver(db)
    sink.default = Answer(500)
    (dead,) = emit(db, 1)
    deliver(db)
    db.execute(
        # 8 days back, where no range partition is: into the default one.
        "update prospectpro.outbox set delivered_at = now() - interval '8 days',"
        " created_at = now() - interval '8 days' where id <= %s or id = %s",
        (ids[19], dead),
    )
    db.execute(
        "update prospectpro.delivery_attempts set created_at = now() - interval '8 days'"
        " where event_id <= %s or event_id = %s",
        (ids[19], dead),
    )
    assert counts(db) == (30, 1, 31)

    with psycopg.connect(dsn) as round_in_progress:
        # A delivery round holds this old event: prune skips it instead of waiting.
        round_in_progress.execute(
            "select id from prospectpro.outbox where id = %s for update", (ids[0],)
        )
        started = time.monotonic()
        db.execute("set statement_timeout = '5s'")
        db.execute("call prospectpro.prune(interval '7 days', 7)")
        assert time.monotonic() - started < 2
    # 19 pruned; the old attempts go by their own time, but the dead event's.
    assert counts(db) == (11, 1, 11)
    db.execute("call prospectpro.prune(interval '7 days', 7)")
    assert counts(db) == (10, 1, 11)

    db.execute("select prospectpro.discard(%s)", (dead,))
    assert counts(db) == (10, 0, 10)
    with pytest.raises(psycopg.errors.InvalidParameterValue) as caught:
        db.execute("select prospectpro.discard(%s)", (ids[-1],))
    assert caught.value.diag.message_hint


def test_prune_rejects_a_negative_retention_with_a_hint(db):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as caught:
        db.execute("call prospectpro.prune(interval '-1 day')")
    assert "prune" in caught.value.diag.message_hint


OLD_DAY = ("2020-01-01 00:00+00", "2020-01-02 00:00+00")


def add_old_day(db, events: int) -> list[int]:
    """Partitions for a day long past, as maintain_partitions made them back
    then, holding delivered events with an attempt each; returns their ids."""
    for table in ("outbox", "delivery_attempts"):
        db.execute(
            f"create table prospectpro.{table}_20200101_0000 partition of prospectpro.{table}"
            f" for values from ('{OLD_DAY[0]}') to ('{OLD_DAY[1]}')"
        )
    ids = [
        i
        for (i,) in db.execute(
            "insert into prospectpro.outbox (webhook_type, payload, status, created_at)"
            " select 'lead_enrichment', '{}', 'delivered', %s::timestamptz + n * interval '1 s'"
            " from generate_series(1, %s) n returning id",
            (OLD_DAY[0], events),
        )
    ]
    db.execute(
        "insert into prospectpro.delivery_attempts"
        " (event_id, webhook_id, webhook_type, attempt, status, latency_ms, created_at)"
        " select id, webhook_id, webhook_type, 1, 'success', 3, created_at"
        " from prospectpro.outbox where id = any(%s)",
        (ids,),
    )
    return ids


def partitions(db) -> set[str]:
    return {n for (n,) in db.execute("select partition_name from prospectpro.history_partitions")}


def test_prune_drops_expired_partitions_and_keeps_pending_and_dead_events(db, sink):
    db.execute("select prospectpro.maintain_partitions()")
    configure(db, sink.url, retry_schedule=[])
    emit(db, 3)
    deliver(db)
    totals = db.execute("select * from prospectpro.webhook_success_rates").fetchall()
    assert totals == [("lead_enrichment", 3, 3, 100)]

    old = add_old_day(db, 1000)
    # One event of that day is dead, one still pending: both outlive it.
    db.execute("update prospectpro.outbox set status = 'dead' where id = %s", (old[0],))
    db.execute(
        "update prospectpro.outbox set status = 'pending', next_attempt_at = now() where id = %s",
        (old[1],),
    )
    db.execute("call prospectpro.prune(interval '7 days')")

    assert not partitions(db) & {"outbox_20200101_0000", "delivery_attempts_20200101_0000"}
    assert db.execute(
        "select id, status, tableoid::regclass::text from prospectpro.outbox"
        " where created_at < '2020-01-02' order by id"
    ).fetchall() == [
        (old[0], "dead", "prospectpro.outbox_default"),
        (old[1], "pending", "prospectpro.outbox_default"),
    ]
    assert db.execute(
        "select event_id from prospectpro.webhook_logs where created_at < '2020-01-02'"
        " order by event_id"
    ).fetchall() == [(old[0],), (old[1],)]
    assert db.execute("select * from prospectpro.webhook_success_rates").fetchall() == totals

    # The pending survivor is delivered once, as any other.
    assert deliver(db) == 1
    (webhook_id,) = db.execute(
        "select webhook_id::text from prospectpro.outbox where id = %s", (old[1],)
    ).fetchone()
    assert sink.ledger.requests[webhook_id] == 1
    db.execute("select prospectpro.discard(%s)", (old[0],))
    assert db.execute(
        "select count(*) from prospectpro.webhook_logs where event_id = %s", (old[0],)
    ).fetchone() == (0,)


def test_partition_ddl_waits_for_a_round_but_holds_writers_back_briefly(db, dsn):
    db.execute("select prospectpro.maintain_partitions()")
    add_old_day(db, 10)
    stalls: list[float] = []
    stop = threading.Event()

    def write() -> None:
        with psycopg.connect(dsn, autocommit=True) as writer:
            while not stop.is_set():
                started = time.monotonic()
                writer.execute("select prospectpro._emit('cost_alert', '{}')")
                stalls.append(time.monotonic() - started)

    writer = threading.Thread(target=write)
    writer.start()
    # A delivery round's transaction on the outbox, 0.6 s long.
    with psycopg.connect(dsn) as round_in_progress:
        round_in_progress.execute(
            "select id from prospectpro.outbox where status = 'pending' limit 1 for update"
        )
        pruning = threading.Thread(
            target=lambda: psycopg.connect(dsn, autocommit=True).execute(
                "call prospectpro.prune(interval '7 days')"
            )
        )
        pruning.start()
        time.sleep(0.6)
    pruning.join(timeout=30)
    stop.set()
    writer.join()
    assert "outbox_20200101_0000" not in partitions(db)
    assert len(stalls) > 10
    # Each try for the lock waits 100 ms at most, holding writers back as long.
    assert max(stalls) < 0.3, sorted(stalls)[-5:]


def test_the_worker_makes_partitions_ahead_of_need(db, start_worker):
    before = len(partitions(db))
    # Wider settings than the template's partitions cover: 2 days more of hours.
    db.execute(
        "insert into prospectpro.partition_settings (partition_interval, partitions_ahead)"
        " values ('1 hour', 24 * 5)"
    )
    start_worker()
    wait_until(lambda: len(partitions(db)) > before + 3 * 24, timeout=10)


@needs_pg_cron
def test_schedule_maintenance_installs_the_cron_job(cluster):
    with psycopg.connect(cluster.dsn(PRIMARY_DB), autocommit=True) as conn:
        conn.execute("create extension if not exists pg_cron")
        conn.execute("create extension if not exists prospectpro cascade")
        conn.execute("select prospectpro.schedule_maintenance(interval '3 days')")
        assert conn.execute(
            "select command from cron.job where jobname = 'prospectpro-maintenance'"
        ).fetchone() == ("call prospectpro.prune('3 days')",)
        conn.execute("select cron.unschedule('prospectpro-maintenance')")


TIMELINE_SQL = """
select id, lifecycle_event, old_status, new_status, milestone, reason, payload, created_at
from prospectpro.campaign_lifecycle_log where campaign_id = %s order by id
"""


def test_the_campaign_timeline_survives_pruning_everything_delivered(db, sink):
    db.execute(
        "select prospectpro.configure_endpoint('campaign_lifecycle', %s, 'tok')", (sink.url,)
    )
    (campaign,) = db.execute(
        "insert into prospectpro.campaigns (name, target_count) values ('Kept', 4) returning id"
    ).fetchone()
    db.execute(
        "insert into prospectpro.enhanced_leads (campaign_id, business_name)"
        " select %s, 'Lead ' || n from generate_series(1, 4) n",
        (campaign,),
    )
    for _ in range(4):  # one lead finishes per statement: 25, 50, 75 %, completed
        db.execute(
            "update prospectpro.enhanced_leads set enrichment_stage = 'completed'"
            " where id = (select min(id) from prospectpro.enhanced_leads"
            "   where campaign_id = %s and enrichment_stage <> 'completed')",
            (campaign,),
        )
    while deliver(db):
        pass
    timeline = db.execute(TIMELINE_SQL, (campaign,)).fetchall()
    assert [(e[1], e[4]) for e in timeline] == [
        ("created", None), ("processing_started", None), ("progress_update", 25),
        ("progress_update", 50), ("progress_update", 75), ("completed", None),
    ]  # fmt: skip
    assert {s for (s,) in db.execute(
        "select delivery_status from prospectpro.campaign_lifecycle_log"
    )} == {"delivered"}  # fmt: skip

    # A month on: the events are past retention (the timeline's records are not).
    db.execute("update prospectpro.outbox set created_at = created_at - interval '30 days'")
    db.execute("call prospectpro.prune(interval '7 days')")
    assert db.execute(
        "select count(*) from prospectpro.outbox where webhook_type = 'campaign_lifecycle'"
    ).fetchone() == (0,)
    assert db.execute(TIMELINE_SQL, (campaign,)).fetchall() == timeline
    assert db.execute(
        "select distinct delivery_status from prospectpro.campaign_lifecycle_log"
    ).fetchall() == [(None,)]
    assert db.execute(
        "select last_event, last_event_at from prospectpro.campaign_lifecycle_dashboard"
        " where campaign_id = %s",
        (campaign,),
    ).fetchone() == ("completed", timeline[-1][-1])
