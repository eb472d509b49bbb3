"""Upgrading 1.1 -> 1.2 with events in flight: delivered, dead and pending
events and their attempts are kept, and the pending ones are delivered once
after the upgrade, with their webhook-ids. (tools/check-upgrades compares the
catalog and the data; this one runs the rounds on both sides of the upgrade.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest
from prospectpro_dev.sink import Answer

ROOT = Path(__file__).resolve().parents[2]
OLD = "1.1"


@pytest.fixture
def old_version():
    """1.1 installed beside the current version, which is put back afterwards
    (installing 1.1 writes its control file)."""
    subprocess.run([ROOT / "tools/install-version", OLD], check=True, capture_output=True)
    yield
    subprocess.run(["make", "-s", "install"], cwd=ROOT, check=True, capture_output=True)


def test_events_in_flight_across_the_upgrade_are_kept_and_delivered_once(
    cluster, old_version, sink
):
    cluster.psql("create database in_flight")
    try:
        with psycopg.connect(cluster.dsn("in_flight"), autocommit=True) as db:
            db.execute(f"create extension prospectpro version '{OLD}' cascade")
            db.execute(
                "select prospectpro.configure_endpoint('cost_alert', %s, 'tok',"
                " retry_schedule => '{0}')",
                (sink.url,),
            )
            emit = "select prospectpro._emit('cost_alert', jsonb_build_object('n', n))"
            db.execute(emit + " from generate_series(1, 20) n")
            assert db.execute("select prospectpro.deliver_due(20)").fetchone() == (20,)
            sink.default = Answer(500)
            db.execute(emit + " from generate_series(21, 22) n")
            while db.execute("select prospectpro.deliver_due(20)").fetchone()[0]:
                pass  # two attempts each: dead
            sink.default = Answer(200)
            db.execute(emit + " from generate_series(23, 50) n")
            events = "select id, webhook_id::text, status from prospectpro.outbox order by id"
            before = db.execute(events).fetchall()
            logs = "select event_id, attempt, status from prospectpro.webhook_logs order by 1, 2"
            logged = db.execute(logs).fetchall()
            assert [s for *_, s in before].count("pending") == 28

            db.execute("alter extension prospectpro update to '1.2'")
            assert db.execute(events).fetchall() == before
            assert db.execute(logs).fetchall() == logged
            assert db.execute(
                "select total_webhooks, successful from prospectpro.webhook_success_rates"
            ).fetchone() == (24, 20)

            db.execute("select prospectpro.maintain_partitions()")
            while db.execute("select prospectpro.deliver_due(100)").fetchone()[0]:
                pass
            after = db.execute(events).fetchall()
            pending = {w for _, w, s in before if s == "pending"}
            assert {w for _, w, s in after if s == "delivered"} >= pending
            assert all(sink.ledger.acked[w] == 1 for w in pending)
            # Those delivered before the upgrade were not sent again.
            assert all(sink.ledger.requests[w] == 1 for _, w, s in before if s == "delivered")
    finally:
        cluster.psql("drop database in_flight with (force)")
