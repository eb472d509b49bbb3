import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prospectpro_pl import contracts, payloads

# The contract's own examples: every key here must be in the built payload.
LEAD_CONTRACT = {
    "lead_id": 123,
    "webhook_type": "lead_enrichment",
    "enrichment_stage": "stage1",
    "lead_data": {"business_name": "...", "confidence_score": 85, "is_qualified": False},
    "webhook_metadata": {
        "trigger_time": "2024-01-01T10:00:00Z",
        "trigger_source": "database_trigger",
    },
}
ALERT_CONTRACT = {
    "alert_type": "daily_spend",
    "threshold_value": 50.0,
    "current_value": 65.5,
    "threshold_exceeded_by": 15.5,
    "time_period": "daily",
    "alert_metadata": {
        "campaign_ids": [1, 2, 3],
        "top_cost_apis": ["google_places", "hunter_io"],
        "alert_triggered_at": "2024-01-01T15:30:00Z",
    },
}
LIFECYCLE_CONTRACT = {
    "campaign_id": 456,
    "lifecycle_event": "completed",
    "campaign_info": {"name": "San Diego Restaurants", "target_count": 100, "budget_limit": 50.0},
    "processing_status": {
        "total_leads": 87,
        "qualified_leads": 34,
        "processing_cost": 28.5,
        "completion_percentage": 100,
    },
    "event_data": {"old_status": "processing", "new_status": "completed"},
}

LEAD_COLUMNS = (
    "id",
    "campaign_id",
    "business_name",
    "confidence_score",
    "is_qualified",
    "enrichment_stage",
)
LEAD = {
    "id": 123,
    "campaign_id": 7,
    "business_name": "Joe's Tacos, Inc.",
    "confidence_score": 85,
    "is_qualified": False,
    "enrichment_stage": "stage1",
}
CAMPAIGN = {
    "id": 456,
    "name": "San Diego Restaurants",
    "target_count": 100,
    "budget_limit": Decimal("50.00"),
    "status": "completed",
}


def key_tree(value):
    """The nested key structure of a payload, with each leaf's JSON type."""
    if isinstance(value, dict):
        return {k: key_tree(v) for k, v in value.items()}
    return type(value).__name__


def assert_contract(payload, contract, extras):
    tree, expected = key_tree(payload), key_tree(contract)
    for path, keys in extras.items():
        node = tree
        for part in path:
            node = node[part]
        for key in keys:
            node.pop(key)
    assert tree == expected


def lead_payload(db, event="lead_created"):
    """The lead payload the capture triggers build in SQL, and the statement's time."""
    return db.execute(
        "select prospectpro._lead_payload(%s, %s, %s, %s, %s, %s, %s),"
        " to_char(statement_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
        [LEAD[k] for k in LEAD_COLUMNS] + [event],
    ).fetchone()


def alert_payload(**changes):
    args = {
        "alert_id": 9,
        "severity": "warning",
        "scope": "global",
        "period_start": "2024-01-01T00:00:00+00:00",
        "period_end": "2024-01-02",
        "campaign_ids": [1, 2, 3],
        "top_cost_apis": ["google_places", "hunter_io"],
        "triggered_at": "2024-01-01T15:30:00Z",
    }
    args.update(changes)
    return payloads.cost_alert(
        args.pop("alert_type", "daily_spend"),
        args.pop("threshold_value", Decimal("50.00")),
        args.pop("current_value", Decimal("65.50")),
        **args,
    )


def lifecycle_payload(event="completed", campaign=CAMPAIGN, **changes):
    args = {
        "total_leads": 87,
        "qualified_leads": 34,
        "processing_cost": Decimal("28.5000"),
        "old_status": "processing",
    }
    args.update(changes)
    return payloads.campaign_lifecycle(campaign, event, **args)


def test_lead_enrichment_has_the_contract_keys_and_values(db):
    payload, now = lead_payload(db)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", now)
    assert_contract(payload, LEAD_CONTRACT, {(): ["campaign_id"], ("webhook_metadata",): ["event"]})
    assert payload == {
        "lead_id": 123,
        "campaign_id": 7,
        "webhook_type": "lead_enrichment",
        "enrichment_stage": "stage1",
        "lead_data": {
            "business_name": "Joe's Tacos, Inc.",
            "confidence_score": 85,
            "is_qualified": False,
        },
        "webhook_metadata": {
            "trigger_time": now,
            "trigger_source": "database_trigger",
            "event": "lead_created",
        },
    }
    assert lead_payload(db, "stage_changed")[0]["webhook_metadata"]["event"] == "stage_changed"


def test_cost_alert_has_the_contract_keys_and_values():
    payload = alert_payload()
    assert_contract(
        payload,
        ALERT_CONTRACT,
        {
            (): ["alert_id", "severity", "scope"],
            ("alert_metadata",): ["period_start", "period_end"],
        },
    )
    window = {k: payload["alert_metadata"].pop(k) for k in ("period_start", "period_end")}
    assert {k: payload[k] for k in ALERT_CONTRACT} == ALERT_CONTRACT
    assert (payload["alert_id"], payload["severity"], payload["scope"]) == (9, "warning", "global")
    assert window == {"period_start": "2024-01-01T00:00:00Z", "period_end": "2024-01-02T00:00:00Z"}


@pytest.mark.parametrize(
    ("alert_type", "time_period"),
    [
        ("daily_spend", "daily"),
        ("cost_per_lead", "daily"),
        ("rate_limit", "minute"),
        ("spending_anomaly", "hourly"),
    ],
)
def test_time_period_names_the_kind_of_window_not_the_window(alert_type, time_period):
    payload = alert_payload(
        alert_type=alert_type,
        period_start="2024-01-01 10:05:00+00",
        period_end="2024-01-01T10:06:00Z",
    )
    assert payload["time_period"] == time_period
    assert payload["time_period"] in contracts.TIME_PERIODS
    assert payload["alert_metadata"]["period_start"] == "2024-01-01T10:05:00Z"
    assert payload["alert_metadata"]["period_end"] == "2024-01-01T10:06:00Z"


def test_campaign_lifecycle_has_the_contract_keys_and_values():
    payload = lifecycle_payload()
    assert_contract(payload, LIFECYCLE_CONTRACT, {})
    assert payload == LIFECYCLE_CONTRACT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
        ("2024-01-01 10:00:00.999999+00", "2024-01-01T10:00:00Z"),  # ISO DateStyle
        ("2024-01-01T02:00:00.5-08:00", "2024-01-01T10:00:00Z"),  # to_json(timestamptz)
        ("2024-01-01 10:00:00", "2024-01-01T10:00:00Z"),  # no offset: UTC
        (
            datetime(2024, 1, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
            "2024-01-02T04:30:00Z",
        ),
        (datetime(2024, 1, 1, 10, 0), "2024-01-01T10:00:00Z"),
    ],
)
def test_timestamp_is_rfc3339_utc(value, expected):
    assert payloads.timestamp(value) == expected


def test_timestamp_defaults_to_now():
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = datetime.fromisoformat(payloads.timestamp())
    assert before <= stamp <= datetime.now(UTC)


def test_timestamp_rejects_text_that_is_no_timestamp():
    with pytest.raises(ValueError):
        payloads.timestamp("Mon Jan 01 10:00:00 2024 PST")


def test_money_from_any_database_type_becomes_a_number_in_cents():
    for threshold, current in [(Decimal("50"), Decimal("65.5")), ("50.00", "65.50"), (50, 65.5)]:
        payload = alert_payload(threshold_value=threshold, current_value=current)
        assert payload["threshold_value"] == 50.0
        assert payload["current_value"] == 65.5
        assert payload["threshold_exceeded_by"] == 15.5
    rounded = alert_payload(threshold_value="0.105", current_value="0.1149")
    assert (rounded["threshold_value"], rounded["current_value"]) == (0.11, 0.11)
    assert rounded["threshold_exceeded_by"] == 0.01  # of the exact values: 0.0099


def test_cost_per_lead_keeps_four_decimals():
    payload = alert_payload(
        alert_type="cost_per_lead", threshold_value="0.05", current_value=Decimal("0.071249")
    )
    assert payload["current_value"] == 0.0712
    assert payload["threshold_exceeded_by"] == 0.0212


def test_cost_alert_defaults_lists_to_empty():
    payload = alert_payload(campaign_ids=None, top_cost_apis=None, scope="campaign:12")
    assert payload["alert_metadata"]["campaign_ids"] == []
    assert payload["alert_metadata"]["top_cost_apis"] == []
    assert payload["scope"] == "campaign:12"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"alert_type": "monthly_spend"}, "unknown alert type 'monthly_spend'"),
        ({"severity": "info"}, "unknown severity 'info': expected one of warning, critical"),
        ({"current_value": float("nan")}, "amount must be a finite number"),
        ({"current_value": "lots"}, "amount must be a finite number, got 'lots'"),
    ],
)
def test_cost_alert_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        alert_payload(**changes)


def test_lifecycle_progress_carries_its_milestone_and_percentage():
    campaign = {**CAMPAIGN, "status": "processing", "budget_limit": None}
    payload = lifecycle_payload("progress_update", campaign, total_leads=51, milestone=50)
    assert payload["campaign_info"]["budget_limit"] is None
    assert payload["processing_status"]["completion_percentage"] == 51
    assert payload["event_data"] == {
        "old_status": "processing",
        "new_status": "processing",
        "milestone": 50,
    }


def test_lifecycle_error_carries_its_reason_and_status_override():
    payload = lifecycle_payload("error", new_status="error", reason="budget exhausted")
    assert payload["event_data"] == {
        "old_status": "processing",
        "new_status": "error",
        "reason": "budget exhausted",
    }
    assert payload["processing_status"]["completion_percentage"] == 87


def test_lifecycle_event_must_be_known():
    with pytest.raises(ValueError, match="unknown lifecycle event 'archived'"):
        lifecycle_payload("archived")


@pytest.mark.parametrize(
    ("total", "target", "percent"), [(0, 100, 0), (24, 97, 24), (74, 99, 74), (250, 100, 100)]
)
def test_completion_percentage_rounds_down_and_caps(total, target, percent):
    assert payloads.completion_percentage(total, target) == percent


def test_completion_percentage_needs_a_target():
    with pytest.raises(ValueError, match="target_count must be positive"):
        payloads.completion_percentage(1, 0)


def test_to_json_is_compact_sorted_and_keeps_unicode():
    assert payloads.to_json({"b": [1, 2.5], "a": {"z": None, "é": "ü"}}) == (
        '{"a":{"z":null,"é":"ü"},"b":[1,2.5]}'
    )


def test_to_json_rejects_nan():
    with pytest.raises(ValueError):
        payloads.to_json({"cost": float("inf")})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values, max_size=8))
def test_to_json_is_deterministic_and_round_trips(payload):
    reordered = dict(reversed(payload.items()))
    assert payloads.to_json(payload) == payloads.to_json(reordered)
    assert json.loads(payloads.to_json(payload)) == payload


@given(
    st.decimals(min_value=0, max_value=10**9, places=6),
    st.decimals(min_value=0, max_value=10**9, places=6),
)
def test_alert_amounts_are_cents_of_the_exact_values(threshold, current):
    payload = alert_payload(threshold_value=threshold, current_value=current)
    cents = Decimal("0.01")
    assert Decimal(str(payload["current_value"])) == current.quantize(cents, "ROUND_HALF_UP")
    exceeded = (current - threshold).quantize(cents, "ROUND_HALF_UP")
    assert Decimal(str(payload["threshold_exceeded_by"])) == exceeded
