"""Retention: prune() deletes delivered events and their logs past retention, in
batches that never wait on delivery; dead events stay until discarded."""

from __future__ import annotations

import time

import psycopg
import pytest
from conftest import needs_pg_cron
from prospectpro_dev.cluster import PRIMARY_DB
from prospectpro_dev.sink import Answer
from test_delivery import configure, deliver, emit


def counts(db) -> tuple:
    return db.execute(
        "select (select count(*) from prospectpro.outbox where status = 'delivered'),"
        " (select count(*) from prospectpro.outbox where status = 'dead'),"
        " (select count(*) from prospectpro.webhook_logs)"
    ).fetchone()


def test_prune_deletes_old_delivered_events_in_batches_and_keeps_dead_ones(db, dsn, sink):
    configure(db, sink.url, retry_schedule=[])
    ids = emit(db, 30)
    deliver(db)
    sink.default = Answer(500)
    (dead,) = emit(db, 1)
    deliver(db)
    db.execute(
        "update prospectpro.outbox set delivered_at = now() - interval '8 days',"
        " created_at = now() - interval '8 days' where id <= %s or id = %s",
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
    assert counts(db) == (11, 1, 12)  # 19 pruned, their logs with them
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

    db.execute("call prospectpro.prune(interval '0')")
    assert db.execute(
        "select count(*) from prospectpro.outbox where webhook_type = 'campaign_lifecycle'"
    ).fetchone() == (0,)
    assert db.execute(TIMELINE_SQL, (campaign,)).fetchall() == timeline
    assert db.execute(
        "select distinct delivery_status, event_id from prospectpro.campaign_lifecycle_log"
    ).fetchall() == [(None, None)]
    assert db.execute(
        "select last_event, last_event_at from prospectpro.campaign_lifecycle_dashboard"
        " where campaign_id = %s",
        (campaign,),
    ).fetchone() == ("completed", timeline[-1][-1])
