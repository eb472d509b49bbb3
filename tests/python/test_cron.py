"""Delivery without a worker: the pg_cron job and the procedure it runs."""

from __future__ import annotations

import psycopg
import pytest
from conftest import needs_pg_cron
from prospectpro_dev.cluster import PRIMARY_DB


def test_run_delivery_delivers_for_the_given_time(db, sink):
    db.execute(
        "select prospectpro.configure_endpoint('campaign_lifecycle', %s, 'tok')", (sink.url,)
    )
    db.execute(
        "select prospectpro._emit('campaign_lifecycle', jsonb_build_object('n', n))"
        " from generate_series(1, 250) n"
    )
    db.execute("call prospectpro.run_delivery(4, 100)")
    assert len(sink.received) == 250
    assert db.execute(
        "select count(*) from prospectpro.outbox where status = 'delivered'"
    ).fetchone() == (250,)


@needs_pg_cron
def test_schedule_delivery_installs_the_cron_job(cluster):
    # pg_cron lives in cron.database_name only: the cluster's primary database.
    with psycopg.connect(cluster.dsn(PRIMARY_DB), autocommit=True) as conn:
        conn.execute("create extension if not exists pg_cron")
        conn.execute("create extension if not exists prospectpro cascade")
        conn.execute("select prospectpro.schedule_delivery()")
        conn.execute("select prospectpro.schedule_delivery()")  # replaces, not adds
        jobs = conn.execute(
            "select schedule, command, database from cron.job"
            " where jobname = 'prospectpro-delivery'"
        ).fetchall()
        assert jobs == [("* * * * *", "call prospectpro.run_delivery(55)", PRIMARY_DB)]
        conn.execute("select cron.unschedule('prospectpro-delivery')")


def test_schedule_delivery_without_pg_cron_says_how_to_get_it(db):
    with pytest.raises(psycopg.errors.RaiseException) as caught:
        db.execute("select prospectpro.schedule_delivery()")
    hint = caught.value.diag.message_hint
    assert "shared_preload_libraries" in hint and "prospectpro worker" in hint


def test_schedule_maintenance_without_pg_cron_says_how_to_get_it(db):
    with pytest.raises(psycopg.errors.RaiseException) as caught:
        db.execute("select prospectpro.schedule_maintenance()")
    assert "prospectpro.prune()" in caught.value.diag.message_hint
