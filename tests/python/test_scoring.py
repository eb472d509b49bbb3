import json
import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prospectpro_pl import scoring

COMPLETE = {
    "stage1": {
        "business_verified": True,
        "rating": 5,
        "business_status": "OPERATIONAL",
        "phone": "+1 619 555 0100",
        "website": "https://joes.example",
    },
    "stage2": {
        "website_reachable": True,
        "emails": ["info@joes.example"],
        "phones": [],
        "social_links": [],
        "contacts": [],
    },
    "stage3": {"email": "info@joes.example", "result": "deliverable", "score": 95},
}


def with_stage(stage, **values):
    return {**COMPLETE, stage: {**COMPLETE[stage], **values}}


def test_default_weights_sum_to_100_and_cover_every_factor():
    assert sum(scoring.DEFAULT_WEIGHTS.values()) == 100
    assert set(scoring.DEFAULT_WEIGHTS) == set(scoring.score({}).breakdown)


def test_a_fully_enriched_lead_scores_100():
    result = scoring.score(COMPLETE)
    assert result == scoring.Score(100, True, dict(scoring.DEFAULT_WEIGHTS))


@pytest.mark.parametrize("data", [None, {}, [], "{}", {"stage1": None, "stage2": "failed"}])
def test_nothing_found_scores_0(data):
    result = scoring.score(data)
    assert (result.confidence_score, result.is_qualified) == (0, False)
    assert set(result.breakdown.values()) == {0}


def test_json_text_scores_like_its_dict():
    assert scoring.score(json.dumps(COMPLETE)) == scoring.score(COMPLETE)


def test_a_typical_lead_is_scored_factor_by_factor():
    data = {
        "stage1": {"business_verified": True, "rating": 4.5, "business_status": "OPERATIONAL"},
        "stage2": {
            "website_reachable": True,
            "emails": [],
            "phones": ["619-555-0100"],
            "contacts": [{"value": "Ana Ruiz", "confidence": 90}, {"value": "", "confidence": 99}],
        },
        "stage3": {"result": "risky", "score": 60},
    }
    result = scoring.score(data)
    assert result.breakdown == {
        "business_verified": 25,
        "operational": 5,
        "rating": 4.5,
        "website_reachable": 15,
        "contacts_found": 13.5,
        "phone_found": 10,
        "email_deliverable": 12.5,
    }
    assert result.confidence_score == 86  # 85.5 rounded half up
    assert result.is_qualified


@pytest.mark.parametrize(
    ("stage3", "points"),
    [
        ({"result": "deliverable"}, 25),
        ({"status": "valid"}, 25),
        ({"result": "risky"}, 12.5),
        ({"status": "accept_all"}, 12.5),
        ({"result": "risky", "status": "valid"}, 25),
        ({"result": "undeliverable", "status": "invalid"}, 0),
        ({"status": "disposable"}, 0),
        ({}, 0),
    ],
)
def test_email_credit(stage3, points):
    result = scoring.score({**COMPLETE, "stage3": stage3})
    assert result.breakdown["email_deliverable"] == points


@pytest.mark.parametrize(
    ("stage2", "points"),
    [
        ({"emails": ["a@b.example"]}, 15),
        ({"emails": ["  "], "contacts": [{"value": "x", "confidence": 40}]}, 6),
        ({"contacts": [{"value": "x"}]}, 7.5),  # no confidence: counts 50
        ({"contacts": [{"value": "x", "confidence": 250}]}, 15),
        ({"contacts": [{"value": "x", "confidence": "high"}]}, 0),
        ({"contacts": "Ana"}, 0),
        ({"social_links": ["https://x.example/joes"]}, 0),
    ],
)
def test_contact_credit(stage2, points):
    assert scoring.score({"stage2": stage2}).breakdown["contacts_found"] == points


@pytest.mark.parametrize(
    ("stage1", "points"),
    [({"rating": 4.2}, 4.2), ({"rating": 9}, 5), ({"rating": -1}, 0), ({"rating": "4"}, 0)],
)
def test_rating_credit(stage1, points):
    assert scoring.score({"stage1": stage1}).breakdown["rating"] == points


def test_phone_from_either_stage():
    assert scoring.score({"stage1": {"phone": "555"}}).breakdown["phone_found"] == 10
    assert scoring.score({"stage2": {"phones": ["", "555"]}}).breakdown["phone_found"] == 10
    assert scoring.score({"stage1": {"phone": " "}}).breakdown["phone_found"] == 0


def test_qualifies_exactly_at_the_threshold():
    data = with_stage("stage3", result="undeliverable")  # 75 points
    assert scoring.score(data).confidence_score == 75
    assert scoring.score(data, threshold=75).is_qualified
    assert not scoring.score(data, threshold=76).is_qualified
    assert scoring.score(data).is_qualified  # default threshold 70


def test_partial_weights_override_the_defaults_and_are_scaled_to_100():
    data = with_stage("stage3", result="undeliverable")
    result = scoring.score(data, {"email_deliverable": 0, "business_verified": Decimal(75)})
    assert result.confidence_score == 100
    assert result.breakdown["business_verified"] == 60  # 75 of 125
    assert result.breakdown["rating"] == 4  # 5 of 125
    assert result.breakdown["email_deliverable"] == 0


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"reviews": 5, "age": 1}, "unknown scoring factor\\(s\\) 'age', 'reviews': known factors"),
        ({"rating": -1}, "weight of 'rating' must be a finite, non-negative number, got -1"),
        ({"rating": "5"}, "weight of 'rating'"),
        ({"rating": True}, "weight of 'rating'"),
        ({"rating": math.nan}, "weight of 'rating'"),
        (dict.fromkeys(scoring.DEFAULT_WEIGHTS, 0), "at least one scoring weight must be positive"),
    ],
)
def test_bad_weights_are_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        scoring.score(COMPLETE, weights)


@pytest.mark.parametrize("threshold", [-1, 101, 70.5, "70", True])
def test_bad_thresholds_are_refused(threshold):
    with pytest.raises(ValueError, match="threshold must be an integer from 0 to 100"):
        scoring.score(COMPLETE, threshold=threshold)


# Enrichment data as the stages might write it, junk included.
anything = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
strings = st.lists(st.sampled_from(["", " ", "x@y.example", "555"]), max_size=3)
stage1 = st.fixed_dictionaries(
    {},
    optional={
        "business_verified": anything,
        "business_status": st.sampled_from(["OPERATIONAL", "CLOSED_PERMANENTLY", ""]) | anything,
        "rating": st.floats(-1, 6) | anything,
        "phone": st.sampled_from(["", "555"]) | anything,
    },
)
stage2 = st.fixed_dictionaries(
    {},
    optional={
        "website_reachable": anything,
        "emails": strings | anything,
        "phones": strings | anything,
        "contacts": st.lists(
            st.fixed_dictionaries(
                {}, optional={"value": st.sampled_from(["", "Ana"]), "confidence": anything}
            )
            | anything,
            max_size=3,
        ),
    },
)
stage3 = st.fixed_dictionaries(
    {},
    optional={
        "result": st.sampled_from(["deliverable", "risky", "undeliverable"]) | anything,
        "status": st.sampled_from(["valid", "invalid", "accept_all", "webmail"]) | anything,
    },
)
enrichment = st.fixed_dictionaries(
    {},
    optional={
        "stage1": stage1 | anything,
        "stage2": stage2 | anything,
        "stage3": stage3 | anything,
    },
)
weights = st.dictionaries(
    st.sampled_from(list(scoring.DEFAULT_WEIGHTS)), st.integers(0, 100) | st.floats(0, 1e6)
).filter(lambda w: any({**scoring.DEFAULT_WEIGHTS, **w}.values()))


def improve(data, stage, **values):
    current = data.get(stage)
    return {**data, stage: {**(current if isinstance(current, dict) else {}), **values}}


# One way to give each factor full credit.
IMPROVEMENTS = {
    "business_verified": ("stage1", {"business_verified": True}),
    "operational": ("stage1", {"business_status": "OPERATIONAL"}),
    "rating": ("stage1", {"rating": 5}),
    "website_reachable": ("stage2", {"website_reachable": True}),
    "contacts_found": ("stage2", {"emails": ["x@y.example"]}),
    "phone_found": ("stage1", {"phone": "555"}),
    "email_deliverable": ("stage3", {"result": "deliverable"}),
}


@given(enrichment, weights, st.integers(0, 100))
def test_score_is_within_0_100_and_matches_its_breakdown(data, custom, threshold):
    result = scoring.score(data, custom, threshold)
    assert 0 <= result.confidence_score <= 100
    assert result.is_qualified == (result.confidence_score >= threshold)
    # Off by the rounding half up, and by seven factors' rounding to 2 decimals.
    assert abs(sum(result.breakdown.values()) - result.confidence_score) <= 0.54


@given(enrichment, weights, st.sampled_from(list(IMPROVEMENTS)))
def test_full_credit_on_a_factor_never_lowers_the_score(data, custom, factor):
    stage, values = IMPROVEMENTS[factor]
    before = scoring.score(data, custom)
    after = scoring.score(improve(data, stage, **values), custom)
    assert after.confidence_score >= before.confidence_score
    assert after.breakdown[factor] == scoring.score(COMPLETE, custom).breakdown[factor]


@given(enrichment, st.floats(0, 5), st.floats(0, 5))
def test_score_rises_with_the_rating(data, low, high):
    low, high = sorted([low, high])
    assert (
        scoring.score(improve(data, "stage1", rating=low)).confidence_score
        <= scoring.score(improve(data, "stage1", rating=high)).confidence_score
    )


@given(enrichment, st.integers(0, 100), st.integers(0, 100))
def test_score_rises_with_contact_confidence(data, low, high):
    low, high = sorted([low, high])
    data = improve(data, "stage2", emails=[])
    scores = [
        scoring.score(improve(data, "stage2", contacts=[{"value": "Ana", "confidence": c}]))
        for c in (low, high)
    ]
    assert scores[0].confidence_score <= scores[1].confidence_score
