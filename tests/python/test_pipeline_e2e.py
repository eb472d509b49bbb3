"""The lead-enrichment pipeline end to end: a real cluster, a worker, the
receiver as its own process, and the stand-in provider APIs on loopback."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import TOKEN, wait_until

TEXT_SEARCH = "/maps/api/place/textsearch/json"


@pytest.fixture
def pipeline(start_pipeline):
    return start_pipeline()


def finished(db, campaign_id: int) -> bool:
    return db.execute(
        "select bool_and(enrichment_stage in ('completed', 'failed'))"
        " from prospectpro.enhanced_leads where campaign_id = %s",
        (campaign_id,),
    ).fetchone()[0]


def new_campaign(db, leads: list[str], target: int | None = None) -> int:
    campaign_id = db.execute(
        "insert into prospectpro.campaigns (name, target_count) values ('E2E', %s) returning id",
        (target or len(leads),),
    ).fetchone()[0]
    db.execute(
        "insert into prospectpro.enhanced_leads (campaign_id, business_name, address)"
        " select %s, name, 'San Diego, CA' from unnest(%s::text[]) as name",
        (campaign_id, leads),
    )
    return campaign_id


def stats(standins) -> dict[str, int]:
    return httpx.get(standins + "/__standin/stats").json()["requests"]


def test_fifty_leads_go_through_all_four_stages(db, pipeline):
    names = [f"Harbor Cafe {n}" for n in range(50)]
    campaign_id = new_campaign(db, names)
    wait_until(lambda: finished(db, campaign_id), timeout=120, interval=0.2)

    leads = db.execute(
        "select id, enrichment_stage, confidence_score, is_qualified, enrichment_data"
        " from prospectpro.enhanced_leads where campaign_id = %s",
        (campaign_id,),
    ).fetchall()
    assert {stage for _, stage, *_ in leads} == {"completed"}
    for _, _, score, qualified, data in leads:
        assert {"stage1", "stage2", "stage3", "stage4"} <= data.keys()
        assert 0 <= score <= 100
        assert qualified == (score >= 70)
        assert data["stage4"]["breakdown"]
    # The stand-in world mixes good and bad leads: scoring tells them apart.
    assert 0 < sum(q for *_, q, _ in leads) < 50

    # Every lead paid for its text search exactly once.
    per_lead = db.execute(
        "select lead_id, count(*) from prospectpro.api_costs"
        " where api_name = 'google_places_text_search' and campaign_id = %s group by lead_id",
        (campaign_id,),
    ).fetchall()
    assert len(per_lead) == 50 and {count for _, count in per_lead} == {1}

    # Each lead's webhooks: one success per stage (1-4) and its completion notice.
    def lead_webhooks_delivered():
        return db.execute(
            "select count(*) from prospectpro.webhook_logs w join prospectpro.outbox o"
            " on o.id = w.event_id where w.webhook_type = 'lead_enrichment'"
            " and w.status = 'success' and (o.payload ->> 'campaign_id')::bigint = %s",
            (campaign_id,),
        ).fetchone()[0]

    wait_until(lambda: lead_webhooks_delivered() >= 50 * 5)
    assert lead_webhooks_delivered() == 50 * 5
    wait_until(
        lambda: (
            db.execute(
                "select status from prospectpro.campaigns where id = %s", (campaign_id,)
            ).fetchone()[0]
            == "completed"
        )
    )


def test_a_provider_failing_twice_is_retried_and_billed_once(db, pipeline, standins):
    httpx.post(
        standins + "/__standin/faults", json={"path": TEXT_SEARCH, "status": 500, "times": 2}
    ).raise_for_status()
    campaign_id = new_campaign(db, ["Retry Diner"])
    wait_until(lambda: finished(db, campaign_id), timeout=30, interval=0.1)

    (lead_id, stage) = db.execute(
        "select id, enrichment_stage from prospectpro.enhanced_leads where campaign_id = %s",
        (campaign_id,),
    ).fetchone()
    assert stage == "completed"
    stage1 = db.execute(
        "select w.status, w.http_status from prospectpro.webhook_logs w"
        " join prospectpro.outbox o on o.id = w.event_id"
        " where (o.payload ->> 'lead_id')::bigint = %s"
        " and o.payload ->> 'enrichment_stage' = 'stage1'"
        " order by w.created_at",
        (lead_id,),
    ).fetchall()
    assert stage1 == [("failed", 502), ("failed", 502), ("success", 200)]
    assert stats(standins)[TEXT_SEARCH] == 3
    assert db.execute(
        "select count(*) from prospectpro.api_costs"
        " where lead_id = %s and api_name = 'google_places_text_search'",
        (lead_id,),
    ).fetchone() == (1,)


def test_the_same_delivery_twice_changes_nothing(db, pipeline, standins):
    campaign_id = new_campaign(db, ["Twice Bakery"], target=5)
    wait_until(lambda: finished(db, campaign_id), timeout=30, interval=0.1)
    webhook_id, payload = db.execute(
        "select webhook_id::text, payload from prospectpro.outbox"
        " where payload ->> 'enrichment_stage' = 'stage1'"
        " and (payload ->> 'campaign_id')::bigint = %s",
        (campaign_id,),
    ).fetchone()

    def state():
        return db.execute(
            "select (select count(*) from prospectpro.api_costs),"
            " (select jsonb_agg(to_jsonb(l)) from prospectpro.enhanced_leads l)"
        ).fetchone()

    before, calls_before = state(), stats(standins)
    answer = httpx.post(
        pipeline + "/api/webhooks/lead-enrichment",
        content=json.dumps(payload),
        headers={"authorization": f"Bearer {TOKEN}", "webhook-id": webhook_id},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.json()["status"] == "duplicate"
    assert state() == before
    assert stats(standins) == calls_before  # no provider was called again


def test_a_stage_failing_past_its_retries_fails_the_lead_not_the_others(db, pipeline, standins):
    db.execute(
        "select prospectpro.configure_endpoint('lead_enrichment', %s, %s, retry_schedule => %s)",
        (pipeline + "/api/webhooks/lead-enrichment", TOKEN, [0.1, 0.1]),
    )
    # The domain search fails for good: stage 2 of every lead is refused.
    httpx.post(
        standins + "/__standin/faults",
        json={"path": "/v2/domain-search", "status": 503, "times": 3},
    ).raise_for_status()
    campaign_id = new_campaign(db, ["Doomed Deli"], target=2)
    wait_until(lambda: finished(db, campaign_id), timeout=30, interval=0.1)
    stage, failure = db.execute(
        "select enrichment_stage, enrichment_data -> 'failure'"
        " from prospectpro.enhanced_leads where campaign_id = %s",
        (campaign_id,),
    ).fetchone()
    assert stage == "failed"
    assert failure["stage"] == "stage2"
    assert "HTTP 502" in failure["reason"] and "hunter_domain_search" in failure["reason"]

    # Once the provider is back, other leads go through: nothing is blocked.
    db.execute(
        "insert into prospectpro.enhanced_leads (campaign_id, business_name)"
        " values (%s, 'Lucky Deli')",
        (campaign_id,),
    )
    wait_until(lambda: finished(db, campaign_id), timeout=30, interval=0.1)
    assert db.execute(
        "select array_agg(enrichment_stage order by id) from prospectpro.enhanced_leads"
        " where campaign_id = %s",
        (campaign_id,),
    ).fetchone()[0] == ["failed", "completed"]


def test_a_website_on_a_private_address_is_a_finding_not_a_failure(db, start_pipeline, standins):
    start_pipeline(PROVIDER_ALLOW_NETWORKS="")  # loopback is refused like any private address
    site = "/sites/corner-bistro/"
    campaign_id = new_campaign(db, [], target=1)
    db.execute(
        "insert into prospectpro.enhanced_leads (campaign_id, business_name, website)"
        " values (%s, 'Corner Bistro', %s)",
        (campaign_id, standins + site),
    )
    wait_until(lambda: finished(db, campaign_id), timeout=30, interval=0.1)

    stage, stage2 = db.execute(
        "select enrichment_stage, enrichment_data -> 'stage2'"
        " from prospectpro.enhanced_leads where campaign_id = %s",
        (campaign_id,),
    ).fetchone()
    assert stage == "completed"
    assert stage2["website_reachable"] is False
    assert stage2["website_error"] == "private address: 127.0.0.1 (loopback)"
    assert db.execute(
        "select array_agg(distinct w.http_status) from prospectpro.webhook_logs w"
        " join prospectpro.outbox o on o.id = w.event_id"
        " where (o.payload ->> 'campaign_id')::bigint = %s"
        " and w.webhook_type = 'lead_enrichment'",
        (campaign_id,),
    ).fetchone()[0] == [200]
    assert site not in stats(standins)  # the receiver never asked for the page
