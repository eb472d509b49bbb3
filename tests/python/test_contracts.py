"""The payload contracts (plpython/prospectpro_pl/contracts/*.json) against
everything else that states them: the check constraints and tables of a real
database (read through pg_constraint), the receiver's validation, and every
payload that payloads.py and the capture triggers build."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prospectpro import contracts as receiver_contracts
from prospectpro import schemas
from prospectpro.app import ROUTES
from prospectpro_pl import contracts, payloads
from prospectpro_pl.costs import rules

ROOT = Path(__file__).resolve().parents[2]

# Each check constraint that lists a contract's values: (table or domain, name).
CHECKS = {
    ("prospectpro.webhook_type", "webhook_type_known"): contracts.WEBHOOK_TYPES,
    ("prospectpro.enhanced_leads", "lead_enrichment_stage_known"): contracts.LEAD_STAGES,
    ("prospectpro.cost_thresholds", "cost_threshold_alert_type_known"): contracts.ALERT_TYPES,
    ("prospectpro.cost_alerts", "cost_alert_type_known"): contracts.ALERT_TYPES,
    ("prospectpro.cost_alerts", "cost_alert_severity_known"): contracts.SEVERITIES,
}
CHECKS_SQL = """
select coalesce(nullif(c.conrelid, 0)::regclass::text, c.contypid::regtype::text), c.conname,
       pg_get_constraintdef(c.oid)
from pg_constraint as c
where c.connamespace = 'prospectpro'::regnamespace and c.contype = 'c'
"""
# A check that is a list of values and nothing else: x = ANY (ARRAY['a'::text, ...]).
VALUE_LIST = re.compile(r"CHECK \(\(\(?(\w+)\)? = ANY \(ARRAY\[(.*)\]\)\)\)")
LITERAL = re.compile(r"'((?:[^']|'')*)'::text")


def listed_values(definition: str) -> list[str]:
    match = VALUE_LIST.fullmatch(definition)
    assert match, f"not a plain list of values: {definition}"
    values = LITERAL.findall(match[2])
    assert ", ".join(f"'{v}'::text" for v in values) == match[2], definition
    return [v.replace("''", "'") for v in values]


def test_check_constraints_list_the_contracts_values(db):
    found = {(owner, name): d for owner, name, d in db.execute(CHECKS_SQL).fetchall()}
    for key, values in CHECKS.items():
        assert key in found, f"no check constraint {key[1]} on {key[0]}"
        assert sorted(listed_values(found[key])) == sorted(values), key


def test_webhook_types_table_holds_the_contracts(db):
    rows = db.execute("select webhook_type from prospectpro.webhook_types").fetchall()
    assert sorted(r[0] for r in rows) == sorted(contracts.WEBHOOK_TYPES)
    # The receiver has a route for each, and the delivery views a row for each.
    assert sorted(ROUTES) == sorted(contracts.WEBHOOK_TYPES)
    queue = db.execute("select webhook_type from prospectpro.delivery_queue").fetchall()
    assert sorted(r[0] for r in queue) == sorted(contracts.WEBHOOK_TYPES)


def test_state_machine_emits_only_contract_events(db):
    rows = db.execute("select distinct lifecycle_event from prospectpro.campaign_transitions")
    emitted = {r[0] for r in rows.fetchall()}
    # created and progress_update come from inserts and lead counts, not transitions.
    assert emitted | {"created", "progress_update"} == set(contracts.LIFECYCLE_EVENTS)


def test_cost_rules_cover_the_contracts_alert_types():
    assert sorted(rules.DEFAULTS) == sorted(contracts.ALERT_TYPES)


def test_the_receiver_reads_the_extensions_contract_files():
    assert Path(receiver_contracts.__file__).resolve() == Path(contracts.__file__).resolve()
    assert schemas.SCHEMAS == contracts.SCHEMAS


def test_every_alert_payload_passes_the_receivers_validation():
    for alert_type in contracts.ALERT_TYPES:
        for severity in contracts.SEVERITIES:
            payload = payloads.cost_alert(
                alert_type,
                Decimal("50"),
                "65.5",
                alert_id=7,
                severity=severity,
                scope="campaign:3",
                period_start="2024-01-01",
                period_end="2024-01-02",
                campaign_ids=[3],
                top_cost_apis=["google_places"],
            )
            assert schemas.problems("cost_alert", payload) == []


def test_every_lifecycle_payload_passes_the_receivers_validation():
    campaign = {"id": 4, "name": "Tacos", "target_count": 10, "budget_limit": None}
    for event in contracts.LIFECYCLE_EVENTS:
        for budget in (None, Decimal("12.50")):
            payload = payloads.campaign_lifecycle(
                {**campaign, "budget_limit": budget, "status": "processing"},
                event,
                total_leads=12,
                qualified_leads=3,
                processing_cost="1.2345",
                finished_leads=7,
                old_status=None if event == "created" else "created",
                reason="why",
            )
            assert schemas.problems("campaign_lifecycle", payload) == []


money = st.decimals(min_value=0, max_value=10**9, places=4)


@settings(max_examples=50, deadline=None)
@given(
    alert_type=st.sampled_from(contracts.ALERT_TYPES),
    threshold=money,
    current=money,
    campaign_ids=st.lists(st.integers(1, 2**63 - 1), max_size=5),
)
def test_alert_payloads_of_any_amounts_pass(alert_type, threshold, current, campaign_ids):
    payload = payloads.cost_alert(
        alert_type,
        threshold,
        current,
        alert_id=1,
        severity="critical",
        scope="global",
        period_start="2024-01-01T10:00:00Z",
        period_end="2024-01-01T11:00:00Z",
        campaign_ids=campaign_ids,
    )
    assert schemas.problems("cost_alert", payload) == []


@settings(max_examples=50, deadline=None)
@given(
    event=st.sampled_from(contracts.LIFECYCLE_EVENTS),
    target=st.integers(1, 10**6),
    leads=st.integers(0, 10**6),
    cost=money,
    budget=st.none() | money,
)
def test_lifecycle_payloads_of_any_figures_pass(event, target, leads, cost, budget):
    campaign = {"id": 1, "name": "x", "target_count": target, "budget_limit": budget}
    payload = payloads.campaign_lifecycle(
        {**campaign, "status": "processing"},
        event,
        total_leads=leads,
        qualified_leads=leads // 2,
        processing_cost=cost,
    )
    assert schemas.problems("campaign_lifecycle", payload) == []


@pytest.mark.parametrize("stage", contracts.LEAD_STAGES)
def test_every_lead_payload_passes_the_receivers_validation(db, stage):
    for event in contracts.LEAD_EVENTS:
        (payload,) = db.execute(
            "select prospectpro._lead_payload(1, 2, 'Joe''s Tacos', 85, true, %s, %s)",
            (stage, event),
        ).fetchone()
        assert schemas.problems("lead_enrichment", payload) == []


def test_every_event_a_campaign_queues_passes_the_receivers_validation(db):
    """A campaign run through the database: its leads' stages, a budget pause and
    resume, a cost alert, completion; every queued payload is valid."""
    (campaign,) = db.execute(
        "insert into prospectpro.campaigns (name, target_count, budget_limit)"
        " values ('Contract run', 4, 1) returning id"
    ).fetchone()
    db.execute(
        "insert into prospectpro.enhanced_leads (campaign_id, business_name)"
        " select %s, 'Lead ' || n from generate_series(1, 4) n",
        (campaign,),
    )
    db.execute("select prospectpro._campaign_pass()")  # a round counts the leads
    db.execute("select prospectpro.set_cost_threshold('cost_per_lead', 0.01, %s)", (campaign,))
    db.execute(
        "insert into prospectpro.api_costs (campaign_id, api_name, cost) values (%s, 'hunter', 2)",
        (campaign,),
    )
    db.execute("update prospectpro.campaigns set budget_limit = 100 where id = %s", (campaign,))
    for stage in contracts.WORK_STAGES[1:]:
        db.execute(
            "update prospectpro.enhanced_leads set enrichment_stage = %s where campaign_id = %s",
            (stage, campaign),
        )
    db.execute(
        "update prospectpro.enhanced_leads set enrichment_stage = 'completed', is_qualified = true"
        " where campaign_id = %s",
        (campaign,),
    )
    db.execute("select prospectpro._campaign_pass()")  # what the next round does first
    queued = db.execute("select webhook_type, payload from prospectpro.outbox").fetchall()
    for webhook_type, payload in queued:
        assert schemas.problems(webhook_type, payload) == [], payload
    events = {p["lifecycle_event"] for t, p in queued if t == "campaign_lifecycle"}
    assert events >= {"created", "processing_started", "paused", "resumed", "completed"}
    assert {p["alert_type"] for t, p in queued if t == "cost_alert"} >= {"cost_per_lead"}
    stages = {p["enrichment_stage"] for t, p in queued if t == "lead_enrichment"}
    assert stages == set(contracts.LEAD_STAGES) - {"failed"}
