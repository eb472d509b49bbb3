"""The receiver over real HTTP: authentication, validation, size limits, health;
a rejected request writes nothing."""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import pytest
from conftest import serve_receiver
from prospectpro_dev.processes import Processes
from prospectpro_dev.standins import provider_env
from standardwebhooks.webhooks import Webhook

TOKEN = "receiver-test-token"
SECRET = "whsec_" + base64.b64encode(b"a signing secret of 32 bytes!!!!").decode()
LEAD_ROUTE = "/api/webhooks/lead-enrichment"


def lead_payload(lead_id: int, stage: str = "completed") -> dict:
    return {
        "lead_id": lead_id,
        "webhook_type": "lead_enrichment",
        "enrichment_stage": stage,
        "lead_data": {"business_name": "Cafe", "confidence_score": 0, "is_qualified": False},
        "webhook_metadata": {
            "trigger_time": "2026-01-01T10:00:00Z",
            "trigger_source": "database_trigger",
        },
    }


@pytest.fixture
def lead_id(db):
    db.execute("insert into prospectpro.campaigns (id, name) values (1, 'Receiver tests')")
    return db.execute(
        "insert into prospectpro.enhanced_leads (campaign_id, business_name)"
        " values (1, 'Cafe') returning id"
    ).fetchone()[0]


def database_state(db) -> tuple:
    return db.execute(
        "select (select count(*) from prospectpro.api_costs),"
        " (select count(*) from prospectpro.applied_deliveries),"
        " (select jsonb_agg(to_jsonb(l) order by l.id) from prospectpro.enhanced_leads l)"
    ).fetchone()


def post(base, body: bytes, **headers: str) -> httpx.Response:
    headers.setdefault("webhook-id", str(uuid.uuid4()))
    headers.setdefault("content-type", "application/json")
    return httpx.post(base + LEAD_ROUTE, content=body, headers=headers, timeout=10)


def test_rejected_requests_get_reasons_and_change_nothing(db, lead_id, start_receiver):
    base = start_receiver(WEBHOOK_AUTH_TOKEN=TOKEN, WEBHOOK_MAX_BODY_BYTES="4096")
    good = json.dumps(lead_payload(lead_id, "stage1")).encode()
    bearer = {"authorization": f"Bearer {TOKEN}"}
    before = database_state(db)

    assert post(base, good).status_code == 401
    wrong = post(base, good, authorization="Bearer not-the-token")
    assert wrong.status_code == 401
    assert TOKEN not in wrong.text
    assert post(base, good, authorization=f"Basic {TOKEN}").status_code == 401

    malformed = post(base, b'{"lead_id": ', **bearer)
    assert malformed.status_code == 400
    assert "not valid JSON" in malformed.json()["error"]

    incomplete = lead_payload(lead_id, "stage1")
    del incomplete["lead_data"]["business_name"]
    answer = post(base, json.dumps(incomplete).encode(), **bearer)
    assert answer.status_code == 422
    assert any("business_name" in d for d in answer.json()["details"])

    wrong_type = post(
        base, json.dumps({**lead_payload(lead_id), "lead_id": "7"}).encode(), **bearer
    )
    assert wrong_type.status_code == 422

    no_id = post(base, good, **bearer, **{"webhook-id": "not-a-uuid"})
    assert no_id.status_code == 400

    oversize = post(base, b" " * 5000 + good, **bearer)
    assert oversize.status_code == 413

    def chunks():  # no content-length: the limit applies while reading
        yield good[:10]
        yield b" " * 8000

    streamed = httpx.post(
        base + LEAD_ROUTE,
        content=chunks(),
        headers={**bearer, "webhook-id": str(uuid.uuid4())},
        timeout=10,
    )
    assert streamed.status_code == 413

    assert database_state(db) == before


def test_personal_access_token_is_the_fallback(db, lead_id, start_receiver):
    base = start_receiver(PERSONAL_ACCESS_TOKEN="pat-token")
    body = json.dumps(lead_payload(lead_id)).encode()
    assert post(base, body, authorization="Bearer pat-token").status_code == 200
    assert post(base, body, authorization=f"Bearer {TOKEN}").status_code == 401


def test_standard_webhooks_signature_and_replay_window(db, lead_id, start_receiver):
    base = start_receiver(WEBHOOK_AUTH_TOKEN=TOKEN, WEBHOOK_SIGNING_SECRET=SECRET)
    body = json.dumps(lead_payload(lead_id)).encode()
    signer = Webhook(SECRET)

    def signed(at: float) -> dict[str, str]:
        webhook_id = str(uuid.uuid4())
        stamp = int(at)
        from datetime import UTC, datetime

        signature = signer.sign(webhook_id, datetime.fromtimestamp(stamp, UTC), body.decode())
        return {
            "authorization": f"Bearer {TOKEN}",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature,
        }

    assert post(base, body, authorization=f"Bearer {TOKEN}").status_code == 401  # unsigned
    assert post(base, body, **signed(time.time())).status_code == 200
    assert post(base, body, **signed(time.time() - 6 * 60)).status_code == 401  # replayed
    tampered = signed(time.time())
    assert post(base, body.replace(b"Cafe", b"Evil"), **tampered).status_code == 401


def test_health_names_an_invalid_fallback_url(db, start_receiver):
    db.execute(
        f"alter database {db.info.dbname} set app.lead_enrichment_webhook_url"
        " = 'http://127.0.0.1:99999/api/webhooks/lead-enrichment'"
    )
    base = start_receiver(WEBHOOK_AUTH_TOKEN=TOKEN)
    answer = httpx.get(base + LEAD_ROUTE + "/health", timeout=5)
    assert answer.status_code == 503
    assert answer.json()["checks"]["endpoint_configured"] == {
        "ok": False,
        "error": "app.lead_enrichment_webhook_url: the port is not a number from 1 to 65535",
    }


def test_health_reports_each_check(db, start_receiver):
    base = start_receiver(WEBHOOK_AUTH_TOKEN=TOKEN, GOOGLE_PLACES_API_KEY="k", HUNTER_API_KEY="k")
    answer = httpx.get(base + LEAD_ROUTE + "/health", timeout=5)
    assert answer.status_code == 503
    assert answer.json()["checks"]["endpoint_configured"] == {"ok": False}

    db.execute(
        "select prospectpro.configure_endpoint('lead_enrichment', %s, 'tok')", (base + LEAD_ROUTE,)
    )
    answer = httpx.get(base + LEAD_ROUTE + "/health", timeout=5)
    assert answer.status_code == 200
    checks = answer.json()["checks"]
    assert checks["database"]["ok"] and checks["extension"]["version"] == "1.2"
    assert checks["token_configured"]["ok"]
    assert checks["providers_configured"] == {"ok": True}
    assert checks["breaker"] == {"ok": True, "state": "closed"}
    assert checks["backlog"] == {"ok": True, "pending": 0, "dead": 0}

    # Dead events are counted, per type, and only inform: the route stays healthy.
    db.execute(
        "insert into prospectpro.outbox (webhook_type, payload, status)"
        " values ('lead_enrichment', '{}', 'dead'), ('lead_enrichment', '{}', 'dead'),"
        " ('cost_alert', '{}', 'dead')"
    )
    answer = httpx.get(base + LEAD_ROUTE + "/health", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["checks"]["backlog"] == {"ok": True, "pending": 0, "dead": 2}

    untokened = start_receiver(WEBHOOK_AUTH_TOKEN="", PERSONAL_ACCESS_TOKEN="")
    answer = httpx.get(untokened + LEAD_ROUTE + "/health", timeout=5)
    assert answer.status_code == 503
    assert answer.json()["checks"]["token_configured"]["ok"] is False


def test_without_provider_keys_health_is_503_naming_them_and_no_provider_is_called(
    db, dsn, lead_id, standins, tmp_path
):
    log = tmp_path / "receiver.log"
    env = {
        **provider_env(standins),
        "GOOGLE_PLACES_API_KEY": "",
        "HUNTER_API_KEY": "",
        "WEBHOOK_AUTH_TOKEN": TOKEN,
    }
    with Processes(timeout=10) as procs:
        proc, base = serve_receiver(dsn, tmp_path / "exports", env, log=log)
        procs.add(proc)
        db.execute(
            "select prospectpro.configure_endpoint(t, %s || r, 'tok')"
            " from (values ('lead_enrichment', %s), ('cost_alert', '/api/webhooks/cost-alert'))"
            " as e (t, r)",
            (base, LEAD_ROUTE),
        )
        health = httpx.get(base + LEAD_ROUTE + "/health", timeout=5)
        assert health.status_code == 503
        assert health.json()["checks"]["providers_configured"] == {
            "ok": False,
            "error": "not set: GOOGLE_PLACES_API_KEY, HUNTER_API_KEY",
        }
        # The other routes need no provider: they stay healthy.
        assert httpx.get(base + "/api/webhooks/cost-alert/health", timeout=5).status_code == 200

        bearer = {"authorization": f"Bearer {TOKEN}"}
        for stage, reason in (
            ("stage1", "google_places: GOOGLE_PLACES_API_KEY is not set"),
            ("stage2", "hunter: HUNTER_API_KEY is not set"),
        ):
            db.execute(
                "update prospectpro.enhanced_leads set enrichment_stage = %s where id = %s",
                (stage, lead_id),
            )
            answer = post(base, json.dumps(lead_payload(lead_id, stage)).encode(), **bearer)
            assert (answer.status_code, answer.json()) == (
                502,
                {"error": f"{stage} failed: {reason}"},
            )

    assert httpx.get(standins + "/__standin/stats", timeout=5).json() == {"requests": {}}
    assert db.execute("select count(*) from prospectpro.api_costs").fetchone() == (0,)
    started = log.read_text()
    assert "google_places is not configured: GOOGLE_PLACES_API_KEY is not set" in started
    assert "hunter is not configured: HUNTER_API_KEY is not set" in started
