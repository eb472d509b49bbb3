"""Campaign lifecycle and cost alerts end to end, through the real pipeline:
cluster, worker, receiver process, stand-in providers, and a loopback
stand-in for the Slack-compatible alert notification URL."""

from __future__ import annotations

import csv
import json

from conftest import wait_until

SEED_LIFECYCLE_KEYS = {
    "campaign_id", "lifecycle_event", "campaign_info", "processing_status", "event_data",
}  # fmt: skip
SEED_ALERT_KEYS = {
    "alert_type", "threshold_value", "current_value", "threshold_exceeded_by", "time_period",
    "alert_metadata",
}  # fmt: skip


def delivered_payloads(db, webhook_type: str, campaign_id: int) -> list[dict]:
    """Payloads of the events the receiver accepted, in the order it accepted them."""
    return [
        row[0]
        for row in db.execute(
            "select o.payload from prospectpro.webhook_logs w"
            " join prospectpro.outbox o on o.id = w.event_id"
            " where w.webhook_type = %s and w.status = 'success'"
            " and (o.payload ->> 'campaign_id')::bigint = %s order by w.created_at, w.id",
            (webhook_type, campaign_id),
        ).fetchall()
    ]


def test_a_campaign_of_20_leads_runs_to_completion_and_exports(db, start_pipeline, tmp_path):
    start_pipeline()
    campaign_id = db.execute(
        "insert into prospectpro.campaigns (name, target_count, budget_limit)"
        " values ('San Diego Restaurants', 20, 50) returning id"
    ).fetchone()[0]
    db.execute(
        "insert into prospectpro.enhanced_leads (campaign_id, business_name, address)"
        " select %s, 'Ocean Beach Taqueria ' || n, 'San Diego, CA'"
        " from generate_series(1, 20) n",
        (campaign_id,),
    )
    export = tmp_path / "exports" / f"campaign-{campaign_id}.csv"
    wait_until(export.exists, timeout=60, interval=0.2)

    # The receiver writes the export before it answers the completed webhook, and the
    # worker records that answer after: wait for the record, not only for the file.
    def lifecycle_through_completed():
        events = delivered_payloads(db, "campaign_lifecycle", campaign_id)
        return events if events and events[-1]["lifecycle_event"] == "completed" else None

    events = wait_until(lifecycle_through_completed, timeout=10, interval=0.1)
    assert [(e["lifecycle_event"], e["event_data"].get("milestone")) for e in events] == [
        ("created", None),
        ("processing_started", None),
        ("progress_update", 25),
        ("progress_update", 50),
        ("progress_update", 75),
        ("completed", None),
    ]
    for event in events:
        assert event.keys() >= SEED_LIFECYCLE_KEYS
        assert {"name", "target_count", "budget_limit"} <= event["campaign_info"].keys()
        assert {"total_leads", "qualified_leads", "processing_cost", "completion_percentage"} <= (
            event["processing_status"].keys()
        )
        assert {"old_status", "new_status"} <= event["event_data"].keys()
    done = events[-1]
    assert done["event_data"] == {
        "old_status": "processing",
        "new_status": "completed",
        "reason": "every target lead finished",
    }
    assert done["processing_status"]["completion_percentage"] == 100
    assert done["processing_status"]["processing_cost"] > 0

    qualified = db.execute(
        "select id, business_name, email from prospectpro.enhanced_leads"
        " where campaign_id = %s and is_qualified order by id",
        (campaign_id,),
    ).fetchall()
    assert done["processing_status"]["qualified_leads"] == len(qualified) > 0
    with export.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["lead_id"]), r["business_name"], r["email"] or None) for r in rows] == qualified
    stored = db.execute(
        "select csv, row_count from prospectpro.campaign_exports where campaign_id = %s",
        (campaign_id,),
    ).fetchone()
    assert stored == (export.read_bytes().decode(), len(qualified))


def test_costs_from_the_pipeline_raise_a_delivered_cost_alert(db, start_pipeline, sink):
    start_pipeline(ALERT_NOTIFY_URL=sink.url)
    campaign_id = db.execute(
        "insert into prospectpro.campaigns (name, target_count) values ('Pricey', 3) returning id"
    ).fetchone()[0]
    db.execute("select prospectpro.set_cost_threshold('cost_per_lead', 0.02, %s)", (campaign_id,))
    db.execute(
        "insert into prospectpro.enhanced_leads (campaign_id, business_name)"
        " select %s, 'Gaslamp Bistro ' || n from generate_series(1, 3) n",
        (campaign_id,),
    )
    (notification,) = sink.wait_for(1, timeout=60)
    text = json.loads(notification.body)["text"]

    def delivered_alert():
        return db.execute(
            "select o.payload from prospectpro.cost_alert_history h"
            " join prospectpro.outbox o on o.id = h.event_id"
            " where h.scope = %s and o.status = 'delivered'",
            (f"campaign:{campaign_id}",),
        ).fetchone()

    (payload,) = wait_until(delivered_alert)
    assert payload.keys() >= SEED_ALERT_KEYS
    assert {"campaign_ids", "top_cost_apis", "alert_triggered_at"} <= (
        payload["alert_metadata"].keys()
    )
    assert payload["alert_type"] == "cost_per_lead"
    assert payload["time_period"] == "daily"
    start, end = (payload["alert_metadata"][k] for k in ("period_start", "period_end"))
    assert start.endswith("T00:00:00Z") and end.endswith("T00:00:00Z")
    # The receiver's message names the kind of window and the window.
    assert f"*cost_per_lead* (daily, {start} to {end})" in text
    assert payload["threshold_value"] == 0.02
    assert payload["current_value"] >= 0.02
    assert payload["alert_metadata"]["campaign_ids"] == [campaign_id]
    assert payload["alert_metadata"]["top_cost_apis"][0].startswith("google_places")
