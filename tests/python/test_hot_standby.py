"""Monitoring from a hot standby: a streaming replica of a cluster with
deliveries, alerts and campaign events answers the monitoring views, the seed's
debug queries and the receiver's /metrics; every function that writes refuses
there with read_only_sql_transaction and a HINT naming the primary."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from conftest import TOKEN, free_port, wait_until
from prospectpro import cli
from prospectpro_dev.cluster import Cluster, Standby
from prospectpro_dev.processes import Processes, spawn, wait_answering
from prospectpro_dev.sink import Sink
from test_operations import scrape

DB = "prospectpro"
# The seed's debug queries, as an operator types them (search_path = prospectpro).
DEBUG_QUERIES = [
    "SELECT * FROM webhook_logs ORDER BY created_at DESC LIMIT 10",
    "SELECT * FROM cost_alert_history ORDER BY created_at DESC LIMIT 10",
    "SELECT * FROM campaign_lifecycle_log ORDER BY created_at DESC LIMIT 10",
    """SELECT webhook_type, COUNT(*) as total_webhooks,
  COUNT(*) FILTER (WHERE status = 'success') as successful,
  ROUND(COUNT(*) FILTER (WHERE status = 'success')::DECIMAL / COUNT(*) * 100, 2) as success_rate
FROM webhook_logs WHERE created_at > NOW() - INTERVAL '24 hours' GROUP BY webhook_type""",
]
# Rows as text (cost_windows holds -infinity); the dashboard's figures without
# its durations, which grow with now().
VIEWS = [
    f"select v::text from {view} as v order by 1"
    for view in ("webhook_success_rates", "delivery_queue", "delivery_latency",
                 "endpoint_status", "cost_windows")
] + [
    "select campaign_id, name, status, total_leads, qualified_leads, processing_cost"
    " from campaign_lifecycle_dashboard order by 1"
]  # fmt: skip
# Every call that writes, with arguments it would take on the primary.
WRITERS = [
    ("deliver_due", "select prospectpro.deliver_due(10)"),
    ("run_delivery", "call prospectpro.run_delivery(1)"),
    ("configure_endpoint", "select prospectpro.configure_endpoint('cost_alert', 'http://x', 't')"),
    ("enable_endpoint", "select prospectpro.enable_endpoint('lead_enrichment')"),
    ("redeliver", "select prospectpro.redeliver(1)"),
    ("redeliver", "select prospectpro.redeliver('lead_enrichment')"),
    ("prune", "call prospectpro.prune('1 day')"),
    ("maintain_partitions", "select prospectpro.maintain_partitions()"),
    ("configure_partitions", "select prospectpro.configure_partitions('1 day', 3)"),
    ("discard", "select prospectpro.discard(1)"),
    ("set_campaign_status", "select prospectpro.set_campaign_status(1, 'cancelled')"),
    ("resolve_expired_alerts", "select prospectpro.resolve_expired_alerts()"),
]
# Writers whose body is PL/Python and that no operator calls on a replica by
# mistake more than once: their first write raises read_only_sql_transaction.
UNGUARDED = {
    "arm_wakeup", "disarm_wakeup", "apply_enrichment", "apply_enrichment_batch",
    "configure_scoring", "rebuild_cost_windows", "set_cost_threshold", "set_api_rate_limit",
    "configure_anomaly_detection", "acknowledge_alert", "resolve_alert", "schedule_delivery",
    "schedule_maintenance",
}  # fmt: skip
# Volatile (they read the clock, sleep, or read the session's figures) but write nothing.
NOT_WRITERS = {"delivery_pause", "delivery_round_costs"}
# Procedures, which run as their caller: their first step (delivery_deadline,
# retention_cutoff) guards as the owner; WRITERS above checks what they raise.
STEP_GUARDED = {"run_delivery", "prune"}


@pytest.fixture(scope="module")
def pair():
    """A primary with some history (deliveries, an alert, campaign events), and its
    hot standby caught up with it."""
    with Cluster(port=free_port()) as primary, Sink() as sink:
        primary.create_database(DB)
        with psycopg.connect(primary.dsn(DB), autocommit=True) as db:
            for webhook_type in ("lead_enrichment", "campaign_lifecycle", "cost_alert"):
                db.execute(
                    "select prospectpro.configure_endpoint(%s, %s, %s)",
                    (webhook_type, sink.url, TOKEN),
                )
            campaign = db.execute(
                "insert into prospectpro.campaigns (name, target_count) values ('Replica', 3)"
                " returning id"
            ).fetchone()[0]
            db.execute(
                "insert into prospectpro.enhanced_leads (campaign_id, business_name)"
                " select %s, 'Lead ' || n from generate_series(1, 3) n",
                (campaign,),
            )
            db.execute("select prospectpro.set_cost_threshold('daily_spend', 1)")
            db.execute(
                "insert into prospectpro.api_costs (campaign_id, api_name, cost)"
                " values (%s, 'google_places', %s)",
                (campaign, Decimal(2)),
            )
            while db.execute("select prospectpro.deliver_due(100)").fetchone()[0]:
                pass
        with Standby(primary, port=free_port()) as standby:
            lsn = primary.psql("select pg_current_wal_lsn()")
            wait_until(
                lambda: standby.psql(f"select pg_last_wal_replay_lsn() >= '{lsn}'") == "t",
                what="the standby's replay",
            )
            yield primary, standby


def rows(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("set search_path = prospectpro")
        return conn.execute(sql).fetchall()


def test_the_standby_is_a_hot_standby(pair):
    primary, standby = pair
    assert (primary.in_recovery(), standby.in_recovery()) == (False, True)


@pytest.mark.parametrize("sql", DEBUG_QUERIES + VIEWS)
def test_monitoring_reads_on_the_standby_as_on_the_primary(pair, sql):
    primary, standby = pair
    on_standby = rows(standby.dsn(DB), sql)
    assert on_standby == rows(primary.dsn(DB), sql)
    assert on_standby, "the history gives every query something to show"


def test_metrics_read_from_the_standby(pair, tmp_path):
    primary, standby = pair
    port = free_port()
    env = {
        "DATABASE_URL": primary.dsn(DB),
        "METRICS_DATABASE_URL": standby.dsn(DB),
        "WEBHOOK_AUTH_TOKEN": TOKEN,
        "METRICS_CACHE_SECONDS": "0",
        "EXPORT_DIR": str(tmp_path),
    }
    with Processes(timeout=10) as procs:
        log = tmp_path / "receiver.log"
        procs.add(spawn("prospectpro", "serve", "--port", str(port), env=env, log=log))
        base = f"http://127.0.0.1:{port}"
        wait_answering(base + "/metrics", timeout=20)
        # The standby stops replaying: what /metrics shows next comes from it alone.
        standby.psql("select pg_wal_replay_pause()")
        try:
            with psycopg.connect(primary.dsn(DB), autocommit=True) as db:
                db.execute("insert into prospectpro.campaigns (name) values ('Unseen')")
            figures = scrape(base)
        finally:
            standby.psql("select pg_wal_replay_resume()")
    delivered = ("prospectpro_webhook_deliveries_total",
                 (("outcome", "success"), ("webhook_type", "lead_enrichment")))  # fmt: skip
    assert figures[delivered] == 3
    pending = ("prospectpro_outbox_pending", (("webhook_type", "campaign_lifecycle"),))
    assert figures[pending] == 0, "the new campaign's event is on the primary only"
    assert "error" not in log.read_text().lower()


@pytest.mark.parametrize(("name", "sql"), WRITERS, ids=[sql for _, sql in WRITERS])
def test_writers_refuse_on_the_standby_naming_the_primary(pair, name, sql):
    _, standby = pair
    with (
        psycopg.connect(standby.dsn(DB), autocommit=True) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as refused,
    ):
        conn.execute(sql)
    diag = refused.value.diag
    assert diag.message_primary == (
        f"prospectpro.{name}() writes, and this server is a read-only hot standby"
    )
    assert "target_session_attrs=read-write" in diag.message_hint
    assert "Traceback" not in (diag.context or "")


def test_every_public_writer_is_guarded_or_known(pair):
    """A new function that writes calls prospectpro._require_primary, or is listed above."""
    primary, _ = pair
    unguarded = rows(
        primary.dsn(DB),
        "select p.proname from pg_proc as p"
        " where p.pronamespace = 'prospectpro'::regnamespace and p.proname !~ '^_'"
        " and p.provolatile = 'v' and p.prorettype <> 'trigger'::regtype"
        " and p.prosrc not like '%prospectpro._require_primary(%'",
    )
    assert {name for (name,) in unguarded} == UNGUARDED | NOT_WRITERS | STEP_GUARDED


def test_a_bad_metrics_database_url_is_refused_with_an_example(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "--database-url", "dbname=x", "--metrics-database-url", "replica"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert '--metrics-database-url: missing "=" after "replica"' in error
    assert "e.g. postgresql://reader@replica/prospectpro" in error
