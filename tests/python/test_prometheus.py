"""/metrics as Prometheus reads it: a real Prometheus (Debian's) scrapes the
receiver while a campaign runs; every PromQL expression of the Grafana board
then returns series; counters never go down when retention drops history;
per-campaign series stay bounded however many campaigns have finished."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from conftest import free_port, wait_until
from prospectpro_dev.processes import Process, Processes, wait_answering
from test_operations import scrape

PROMETHEUS = shutil.which("prometheus")
DASHBOARD = Path(__file__).parents[2] / "receiver/grafana/prospectpro-dashboard.json"
# Counter-like samples: what Prometheus reads as monotonic.
MONOTONIC = ("_total", "_count", "_sum", "_bucket")

needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None, reason="Debian's prometheus package is not installed (make deps)"
)


@pytest.fixture
def deployment(start_pipeline):
    return start_pipeline(METRICS_CACHE_SECONDS="0")


@pytest.fixture
def prometheus(deployment, tmp_path):
    """Prometheus on a free loopback port, scraping the receiver every second."""
    port = free_port()
    config = tmp_path / "prometheus.yml"
    scrape_config = {
        "job_name": "prospectpro",
        "static_configs": [{"targets": [deployment.removeprefix("http://")]}],
    }
    config.write_text(  # YAML is a superset of JSON
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [scrape_config],
            }
        )
    )
    command = [
        PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
    ]  # fmt: skip
    log = tmp_path / "prometheus.log"
    with Processes(timeout=10) as procs, log.open("wb") as out:
        proc = procs.add(Process("prometheus", command, log, stdout=out, stderr=out))
        base = f"http://127.0.0.1:{port}"
        wait_answering(base + "/-/ready", timeout=30, process=proc)
        yield base


def query(prometheus: str, expr: str) -> list[dict]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]


def board_expressions() -> list[str]:
    return [
        target["expr"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel["targets"]
    ]


def prune_everything(db) -> None:
    """A month on: every event and attempt is past a week's retention."""
    for table in ("outbox", "delivery_attempts"):
        db.execute(
            f"update prospectpro.{table} set created_at = created_at - interval '30 days'"
            + (" where status = 'delivered'" if table == "outbox" else "")
        )
    db.execute("call prospectpro.prune(interval '7 days')")


@needs_prometheus
def test_prometheus_reads_every_board_expression_and_counters_survive_prune(db, prometheus):
    campaign = db.execute(
        "insert into prospectpro.campaigns (name, target_count) values ('Scraped', 6) returning id"
    ).fetchone()[0]
    db.execute("select prospectpro.set_cost_threshold('cost_per_lead', 0.02, %s)", (campaign,))
    db.execute(
        "insert into prospectpro.enhanced_leads (campaign_id, business_name)"
        " select %s, 'Harbor Deli ' || n from generate_series(1, 6) n",
        (campaign,),
    )
    expressions = board_expressions()

    def empty() -> list[str]:
        return [expr for expr in expressions if not query(prometheus, expr)]

    wait_until(lambda: not empty(), timeout=60, what="every board expression to have series")

    deliveries = "prospectpro_webhook_deliveries_total"
    before = {tuple(sorted(r["metric"].items())): float(r["value"][1])
              for r in query(prometheus, deliveries)}  # fmt: skip
    logged = db.execute("select count(*) from prospectpro.webhook_logs").fetchone()[0]
    prune_everything(db)
    assert db.execute("select count(*) from prospectpro.webhook_logs").fetchone()[0] < logged
    # A campaign event after the prune: the counters go on from where they were.
    db.execute("insert into prospectpro.campaigns (name) values ('After the prune')")

    def grown() -> bool:
        now = {tuple(sorted(r["metric"].items())): float(r["value"][1])
               for r in query(prometheus, deliveries)}  # fmt: skip
        return sum(now.values()) > sum(before.values()) and all(
            now.get(k, 0) >= v for k, v in before.items()
        )

    wait_until(grown, timeout=30, what="the delivery counter to grow past the prune")
    assert not [r for r in query(prometheus, f"resets({deliveries}[5m])") if r["value"][1] != "0"]
    rates = query(prometheus, f"rate({deliveries}[1m])")
    assert rates and all(0 <= float(r["value"][1]) < 1000 for r in rates)
    assert not empty()


def test_no_counter_goes_down_when_prune_drops_history(db, deployment):
    db.execute("insert into prospectpro.campaigns (name) values ('Counted')")
    latency = ("prospectpro_delivery_latency_seconds_count",
               (("webhook_type", "campaign_lifecycle"),))  # fmt: skip
    wait_until(lambda: scrape(deployment).get(latency), what="a delivery to be counted")
    before = scrape(deployment)
    prune_everything(db)
    after = scrape(deployment)
    counters = {k: v for k, v in before.items() if k[0].endswith(MONOTONIC)}
    assert counters and latency in counters
    assert {k: after.get(k) for k, v in counters.items() if after.get(k, -1) < v} == {}


def test_campaign_series_stay_bounded_with_a_thousand_finished_campaigns(db, deployment):
    db.execute(
        "insert into prospectpro.campaigns (name, status) select 'Done ' || n, 'created'"
        " from generate_series(1, 1000) n"
    )
    db.execute("insert into prospectpro.campaigns (name) values ('Running')")
    # Finished two days ago: as the state machine would have left them.
    db.execute("set session_replication_role = replica")
    db.execute(
        "update prospectpro.campaigns set status = 'completed',"
        " updated_at = now() - interval '2 days' where name like 'Done %'"
    )
    db.execute("reset session_replication_role")
    samples = scrape(deployment)
    per_campaign = {
        labels for (name, labels) in samples if name.startswith("prospectpro_campaign_")
    }
    (running,) = db.execute("select id::text from prospectpro.campaigns where name = 'Running'")
    assert per_campaign == {(("campaign_id", running[0]),),
                            (("campaign_id", running[0]), ("name", "Running"))}  # fmt: skip
    assert samples[("prospectpro_campaigns", (("status", "completed"),))] == 1000
    assert len(samples) < 250, len(samples)
