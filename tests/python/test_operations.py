"""Operations: /metrics, /health when the database is down, selftest against a
live deployment, and the demo in a shortened form."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import ROUTES, TEMPLATE, TOKEN, free_port, wait_until
from prometheus_client.parser import text_string_to_metric_families
from prospectpro_dev import demo
from prospectpro_dev.cluster import Cluster
from prospectpro_dev.processes import spawn


def scrape(base: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(base + "/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def deployment(start_pipeline):
    return start_pipeline(METRICS_CACHE_SECONDS="0")


def test_metrics_parse_and_move_after_a_delivery(db, deployment):
    received = ("prospectpro_webhooks_received_total",
                (("outcome", "200"), ("webhook_type", "campaign_lifecycle")))  # fmt: skip
    delivered = ("prospectpro_webhook_deliveries_total",
                 (("outcome", "success"), ("webhook_type", "campaign_lifecycle")))  # fmt: skip
    before = scrape(deployment)
    db.execute("insert into prospectpro.campaigns (name) values ('Metrics')")
    wait_until(lambda: scrape(deployment).get(received, 0) > before.get(received, 0))
    after = scrape(deployment)
    assert after[delivered] == before.get(delivered, 0) + 1
    assert after[("prospectpro_campaign_leads", (("campaign_id", "1"),))] == 0
    assert after[("prospectpro_campaign_info", (("campaign_id", "1"), ("name", "Metrics")))] == 1
    assert after[("prospectpro_campaigns", (("status", "created"),))] == 1
    assert after[("prospectpro_outbox_pending", (("webhook_type", "campaign_lifecycle"),))] == 0
    assert ("prospectpro_delivery_latency_seconds_count",
            (("webhook_type", "campaign_lifecycle"),)) in after  # fmt: skip


def test_health_is_503_naming_the_database_when_it_is_down(start_receiver):
    with Cluster() as own:
        dsn = own.create_database("prospectpro")
        port = free_port()
        own.psql(
            "select prospectpro.configure_endpoint('cost_alert',"
            f" 'http://127.0.0.1:{port}/api/webhooks/cost-alert', 'tok')",
            dbname="prospectpro",
        )
        env = {"DATABASE_URL": dsn, "WEBHOOK_AUTH_TOKEN": TOKEN}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        proc = spawn("prospectpro", "serve", "--port", str(port), env=env, **quiet)
        try:
            health = f"http://127.0.0.1:{port}/api/webhooks/cost-alert/health"

            def status():
                try:
                    return httpx.get(health, timeout=5).status_code
                except httpx.TransportError:
                    return None

            wait_until(lambda: status() == 200, timeout=20)
            own.stop("immediate")
            wait_until(lambda: status() == 503, timeout=20)
            answer = httpx.get(health, timeout=5).json()
            assert answer["checks"]["database"]["ok"] is False
        finally:
            proc.stop(timeout=10)


def selftest(base: str, dsn: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "prospectpro", "selftest", "--timeout", str(timeout)],
        env={
            **os.environ,
            "WEBHOOK_BASE_URL": base,
            "DATABASE_URL": dsn,
            "WEBHOOK_AUTH_TOKEN": TOKEN,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_selftest_passes_against_a_live_deployment_and_cleans_up(db, dsn, deployment):
    result = selftest(deployment, dsn)
    assert result.returncode == 0, result.stdout
    assert "📈 OVERALL RESULTS: 10 passed, 0 failed" in result.stdout
    assert "🎯 Success Rate: 100.0%" in result.stdout
    assert db.execute(
        "select (select count(*) from prospectpro.campaigns),"
        " (select count(*) from prospectpro.enhanced_leads),"
        " (select count(*) from prospectpro.api_costs),"
        " (select count(*) from prospectpro.cost_alerts),"
        " (select count(*) from prospectpro.outbox)"
    ).fetchone() == (0, 0, 0, 0, 0)


def test_selftest_fails_naming_the_check_when_the_receiver_is_down(dsn):
    result = selftest(f"http://127.0.0.1:{free_port()}", dsn, timeout=1)
    assert result.returncode == 1
    assert "❌ Lead enrichment webhook health check" in result.stdout
    assert "❌ Campaign creation webhook trigger" in result.stdout


def test_the_demo_runs_a_short_campaign_end_to_end(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "prospectpro_dev.demo",
            *("--leads", "20"),
            "--export-dir",
            tmp_path,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "status            completed" in out
    assert "leads             20 (20 through the pipeline)" in out
    for webhook_type in ROUTES:
        assert webhook_type in out
    export = next(tmp_path.glob("campaign-*.csv"))
    assert f"CSV export        {export}" in out
    assert export.read_text().startswith("lead_id,business_name,")


def test_the_demo_says_why_a_campaign_is_paused_and_what_resumes_it(cluster, tmp_path, capsys):
    name = f"demo_{os.getpid()}_paused"
    cluster.psql(f'create database "{name}" template {TEMPLATE}')
    try:
        run = demo.Demo(20, 1, tmp_path, timeout=60, budget=Decimal("0.50"))
        code = run.run_in(cluster.dsn(name))
        out = capsys.readouterr().out
    finally:
        cluster.psql(f'drop database "{name}" with (force)')
    assert code == 1, out  # not completed
    reason = "paused: budget $0.50 reached; raise budget_limit to resume"
    assert f"status            {reason}" in out
    assert re.search(r"^ +\d+\.\d s  " + re.escape(reason), out, re.MULTILINE), out
    assert "timed out" not in out  # paused with nothing pending: the demo stops watching


LIFECYCLE = ["created", "processing_started", *["progress_update"] * 3, "completed"]


def summary_counts(out: str) -> dict[str, tuple[int, int]]:
    """The summary's "webhook_type  successful/attempts (rate)" lines."""
    summary = out.rpartition("ProspectPro demo: San Diego Restaurants")[2]
    lines = re.findall(r"^    ([a-z_]+) +(\d+)/(\d+) \(", summary, re.MULTILINE)
    return {webhook_type: (int(ok), int(attempts)) for webhook_type, ok, attempts in lines}


def test_the_demo_summary_counts_every_webhook_of_each_run(cluster, tmp_path, capsys):
    """Twice in a row, as a new user would, with one export directory: each run's
    database is fresh, so the second campaign has the first one's id and export path."""
    leads = 50
    for run in (1, 2):
        name = f"demo_{os.getpid()}_{run}"
        cluster.psql(f'create database "{name}" template {TEMPLATE}')
        try:
            code = demo.Demo(leads, 1, tmp_path, timeout=90).run_in(cluster.dsn(name))
            out = capsys.readouterr().out
            with psycopg.connect(cluster.dsn(name)) as db:
                events = dict(
                    db.execute(
                        "select webhook_type, array_agg(status order by id)"
                        " from prospectpro.outbox group by webhook_type"
                    ).fetchall()
                )
                attempts = db.execute(
                    "select webhook_type, count(*) filter (where status = 'success'), count(*)"
                    " from prospectpro.webhook_logs group by webhook_type"
                ).fetchall()
                lifecycle = db.execute(
                    "select array_agg(lifecycle_event order by id)"
                    " from prospectpro.campaign_lifecycle_log"
                ).fetchone()[0]
        finally:
            cluster.psql(f'drop database "{name}" with (force)')

        assert code == 0, out
        assert summary_counts(out) == {t: (ok, total) for t, ok, total in attempts}, out
        assert lifecycle == LIFECYCLE
        assert len(events["lead_enrichment"]) == 5 * leads  # stages 1-4 and completion
        for webhook_type, statuses in events.items():
            assert set(statuses) == {"delivered"}, webhook_type
            assert summary_counts(out)[webhook_type][0] == len(statuses)
        export = tmp_path / "campaign-1.csv"
        assert f"CSV export        {export}" in out
        assert export.stat().st_mtime_ns > 0 and "still pending" not in out
        # Not a terminal: a line about every second, not a frame redrawn in place.
        assert "\x1b[" not in out
        elapsed = [float(t) for t in re.findall(r"^ +(\d+\.\d) s  ", out, re.MULTILINE)]
        *every_second, end = elapsed  # the last one shows the end, whenever it comes
        assert every_second and len(every_second) >= end // 1.5, out
        gaps = [later - earlier for earlier, later in itertools.pairwise(every_second)]
        assert all(0.9 <= gap <= 3 for gap in gaps), out


def test_the_grafana_dashboard_only_uses_metrics_the_receiver_exposes(deployment, db):
    db.execute("insert into prospectpro.campaigns (name) values ('Dashboard')")
    dashboard = json.loads(
        (Path(__file__).parents[2] / "receiver/grafana/prospectpro-dashboard.json").read_text()
    )
    wait_until(lambda: "prospectpro_delivery_latency_seconds_bucket" in httpx.get(
        deployment + "/metrics", timeout=5).text)  # fmt: skip
    exposed = {
        family.name
        for family in text_string_to_metric_families(httpx.get(deployment + "/metrics").text)
    }
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"prospectpro_[a-z_]+", target["expr"])
    }
    assert len(dashboard["panels"]) >= 10
    # A histogram's _bucket and a counter's _total are samples of one family.
    assert {re.sub(r"_(bucket|total)$", "", name) for name in used} <= exposed
