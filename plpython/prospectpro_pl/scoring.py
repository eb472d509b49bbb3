"""Stage 4 of enrichment: final qualification and scoring.

Turns what stages 1-3 stored in a lead's enrichment_data into a confidence
score from 0 to 100 and a qualified flag. Each factor yields a credit from 0 to
1; the score is the weighted sum of the credits, scaled so that full credit on
every factor is 100, rounded half up. The factors, with their default weights:

business_verified (25)
    stage1.business_verified is true: the business matched a places listing.
operational (5)
    stage1.business_status is "OPERATIONAL", not closed.
rating (5)
    stage1.rating (0-5 stars) as a fraction of 5; no rating earns nothing.
website_reachable (15)
    stage2.website_reachable is true.
contacts_found (15)
    Full credit when stage2.emails holds an address found on the website;
    otherwise the best stage2.contacts confidence (0-100) as a fraction, a
    contact without a confidence counting as 50.
phone_found (10)
    stage1.phone or any of stage2.phones is present.
email_deliverable (25)
    stage3's verdict on the e-mail: full credit for "deliverable" (status
    "valid"), RISKY_EMAIL_CREDIT for "risky" (status "accept_all" or
    "webmail": the address may bounce), nothing otherwise. The better of
    result and status counts.

Missing stages, missing keys and values of the wrong type earn no credit
rather than fail: a lead that failed a stage is still scored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

DEFAULT_WEIGHTS: dict[str, float] = {
    "business_verified": 25,
    "operational": 5,
    "rating": 5,
    "website_reachable": 15,
    "contacts_found": 15,
    "phone_found": 10,
    "email_deliverable": 25,
}
DEFAULT_THRESHOLD = 70
RISKY_EMAIL_CREDIT = 0.5
# A scraped contact with no confidence is as likely right as wrong.
UNRATED_CONTACT_CONFIDENCE = 50

_EMAIL_CREDIT = {
    "deliverable": 1.0,
    "valid": 1.0,
    "risky": RISKY_EMAIL_CREDIT,
    "accept_all": RISKY_EMAIL_CREDIT,
    "webmail": RISKY_EMAIL_CREDIT,
}

Stages = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Score:
    confidence_score: int
    is_qualified: bool
    breakdown: dict[str, float]  # factor -> points it contributed, to 2 decimals


def score(
    enrichment_data: Mapping[str, Any] | str | None,
    weights: Mapping[str, float] | None = None,
    threshold: int | None = None,
) -> Score:
    """Score a lead from its enrichment_data (a dict, or its JSON text).

    ``weights`` overrides some or all of DEFAULT_WEIGHTS (a weight of 0 turns
    a factor off); they need not sum to 100, as the score is scaled to 0-100.
    A lead qualifies when its score is at least ``threshold`` (default
    DEFAULT_THRESHOLD).
    """
    weights = _weights(weights)
    threshold = _threshold(threshold)
    stages = _stages(enrichment_data)
    scale = 100 / sum(weights.values())
    points = {name: weights[name] * scale * credit(stages) for name, credit in _FACTORS.items()}
    confidence = math.floor(sum(points.values()) + 0.5)
    return Score(
        confidence_score=confidence,
        is_qualified=confidence >= threshold,
        breakdown={name: round(p, 2) for name, p in points.items()},
    )


def _business_verified(stages: Stages) -> float:
    return float(stages["stage1"].get("business_verified") is True)


def _operational(stages: Stages) -> float:
    return float(stages["stage1"].get("business_status") == "OPERATIONAL")


def _rating(stages: Stages) -> float:
    return min(max(_number(stages["stage1"].get("rating")) / 5, 0.0), 1.0)


def _website_reachable(stages: Stages) -> float:
    return float(stages["stage2"].get("website_reachable") is True)


def _contacts_found(stages: Stages) -> float:
    stage2 = stages["stage2"]
    if _present(stage2.get("emails")):
        return 1.0
    contacts = stage2.get("contacts")
    if not isinstance(contacts, list):
        return 0.0
    confidences = [
        _number(c.get("confidence", UNRATED_CONTACT_CONFIDENCE))
        for c in contacts
        if isinstance(c, Mapping) and _present(c.get("value"))
    ]
    return min(max([0.0, *confidences]) / 100, 1.0)


def _phone_found(stages: Stages) -> float:
    return float(
        _present(stages["stage1"].get("phone")) or _present(stages["stage2"].get("phones"))
    )


def _email_deliverable(stages: Stages) -> float:
    stage3 = stages["stage3"]
    return max(_EMAIL_CREDIT.get(stage3.get(key), 0.0) for key in ("result", "status"))


_FACTORS: dict[str, Callable[[Stages], float]] = {
    "business_verified": _business_verified,
    "operational": _operational,
    "rating": _rating,
    "website_reachable": _website_reachable,
    "contacts_found": _contacts_found,
    "phone_found": _phone_found,
    "email_deliverable": _email_deliverable,
}


def _stages(enrichment_data: Mapping[str, Any] | str | None) -> Stages:
    """Each stage's results, an empty mapping for a stage missing or malformed."""
    if isinstance(enrichment_data, str):
        enrichment_data = json.loads(enrichment_data)
    if not isinstance(enrichment_data, Mapping):
        enrichment_data = {}
    stages = {}
    for name in ("stage1", "stage2", "stage3"):
        stage = enrichment_data.get(name)
        stages[name] = stage if isinstance(stage, Mapping) else {}
    return stages


def _present(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list):
        return any(_present(v) for v in value)
    return False


def _number(value: Any) -> float:
    """A finite number, or 0 for anything else (bool, text, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return 0.0
    value = float(value)
    return value if math.isfinite(value) else 0.0


def _weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    if weights is None:
        return DEFAULT_WEIGHTS
    unknown = sorted(set(weights) - set(DEFAULT_WEIGHTS))
    if unknown:
        raise ValueError(
            f"unknown scoring factor(s) {', '.join(map(repr, unknown))}: "
            f"known factors are {', '.join(DEFAULT_WEIGHTS)}"
        )
    for name, weight in weights.items():
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float | Decimal)
            or not math.isfinite(weight)
            or weight < 0
        ):
            raise ValueError(
                f"weight of {name!r} must be a finite, non-negative number, got {weight!r}"
            )
    merged = {**DEFAULT_WEIGHTS, **{name: float(w) for name, w in weights.items()}}
    if not any(merged.values()):
        raise ValueError("at least one scoring weight must be positive")
    return merged


def _threshold(threshold: int | None) -> int:
    if threshold is None:
        return DEFAULT_THRESHOLD
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold <= 100:
        raise ValueError(f"threshold must be an integer from 0 to 100, got {threshold!r}")
    return threshold
