"""apply_enrichment: how one stage's outcome reaches a lead.

The receiver runs stages 1-3 against external APIs and reports each outcome
here; stage 4 (scoring) runs here. Every call is idempotent per webhook-id:
the first claims the id in applied_deliveries, a redelivery finds it taken and
changes nothing. A lead only ever moves forward.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from . import plans, scoring

STAGES = ("stage1", "stage2", "stage3", "stage4")
NEXT_STAGE = {"stage1": "stage2", "stage2": "stage3", "stage3": "stage4", "stage4": "completed"}
# Lead columns a stage may fill in; what the user entered is never overwritten.
FILLABLE = ("website", "phone", "address", "email")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# What api_costs accepts: its api_name check, numeric(12, 4) and integer.
API_NAME = re.compile(r"^[a-z0-9_.-]{1,64}$")
MAX_COST = Decimal("99999999.9999")
MAX_REQUESTS = 2**31 - 1
MAX_RESULT_BYTES = 256 * 1024

CLAIM_SQL = """
insert into prospectpro.applied_deliveries (webhook_id, lead_id, stage, applied)
values ($1, $2, $3, false)
on conflict (webhook_id) do nothing
returning webhook_id
"""
LOCK_SQL = """
select id, campaign_id, enrichment_stage, enrichment_data::text as data,
       website, phone, address, email
from prospectpro.enhanced_leads where id = $1 for update
"""
UPDATE_SQL = """
update prospectpro.enhanced_leads
set enrichment_stage = $2, enrichment_data = $3::jsonb,
    website = $4, phone = $5, address = $6, email = $7,
    confidence_score = coalesce($8, confidence_score),
    is_qualified = coalesce($9, is_qualified)
where id = $1
"""
COSTS_SQL = """
insert into prospectpro.api_costs (campaign_id, lead_id, api_name, cost, request_count)
select $1, $2, c.api_name, c.cost, c.request_count
from unnest($3::text[], $4::numeric[], $5::int[]) as c (api_name, cost, request_count)
"""
APPLIED_SQL = "update prospectpro.applied_deliveries set applied = true where webhook_id = $1"
SETTINGS_SQL = """
select coalesce((select value::text from prospectpro.settings where name = 'scoring.weights'),
                'null') as weights,
       (select value::text from prospectpro.settings where name = 'scoring.threshold')
           as threshold
"""
SAVE_SETTING_SQL = """
insert into prospectpro.settings (name, value) values ($1, $2::jsonb)
on conflict (name) do update set value = excluded.value, updated_at = now()
"""


def _bad_argument(plpy, message: str, hint: str) -> None:
    plpy.error(message, hint=hint, sqlstate="22023")


def _parse_costs(plpy, costs: str | None) -> tuple[list[str], list[Decimal], list[int]]:
    """Validate the costs argument: a JSON array of {api_name, cost, request_count}."""
    hint = (
        'Pass costs as [{"api_name": "hunter_email_verifier", "cost": 0.01, "request_count": 1}].'
    )
    items = json.loads(costs or "[]")
    if not isinstance(items, list):
        _bad_argument(plpy, "costs must be a JSON array", hint)
    names, amounts, counts = [], [], []
    for item in items:
        if not isinstance(item, dict) or not API_NAME.match(str(item.get("api_name"))):
            _bad_argument(plpy, f"each cost needs an api_name like hunter_io: {item!r}"[:300], hint)
        try:
            amount = Decimal(str(item.get("cost")))
        except InvalidOperation:
            amount = Decimal(-1)
        count = item.get("request_count", 1)
        # bool is an int to Python, not a request count.
        countable = type(count) is int and 1 <= count <= MAX_REQUESTS
        if not amount.is_finite() or not 0 <= amount <= MAX_COST or not countable:
            _bad_argument(plpy, f"invalid cost for {item['api_name']}: {item!r}"[:300], hint)
        names.append(item["api_name"])
        amounts.append(amount)
        counts.append(count)
    return names, amounts, counts


def _fill(fields: dict, found: dict | None) -> None:
    """Fill the lead columns a stage found and the lead lacks."""
    for key, value in (found or {}).items():
        usable = isinstance(value, str) and value and (key != "email" or EMAIL.match(value))
        if key in FILLABLE and fields[key] is None and usable:
            fields[key] = value[:500]


def apply(plpy, webhook_id, lead_id, stage, result, costs, error) -> str:
    """The body of prospectpro.apply_enrichment(); returns its JSON answer."""
    if webhook_id is None or lead_id is None:
        _bad_argument(
            plpy,
            "webhook_id and lead_id are required",
            "Pass the webhook-id header and the payload's lead_id.",
        )
    if stage not in STAGES:
        _bad_argument(plpy, f"unknown stage {stage!r}", f"Use one of {', '.join(STAGES)}.")
    if result is not None and len(result) > MAX_RESULT_BYTES:
        _bad_argument(
            plpy, "result is too large", f"Keep a stage result under {MAX_RESULT_BYTES} bytes."
        )
    data = json.loads(result or "{}")
    if not isinstance(data, dict) or not isinstance(data.get("lead", {}), dict):
        _bad_argument(
            plpy,
            "result must be a JSON object, and its lead key an object of lead columns",
            'Pass e.g. {"business_verified": true, "lead": {"phone": "+1 619 555 0100"}}.',
        )
    cost_rows = _parse_costs(plpy, costs)

    if not plans.run(plpy, CLAIM_SQL, ["uuid", "bigint", "text"], [webhook_id, lead_id, stage]):
        return json.dumps({"applied": False, "reason": "duplicate delivery", "lead_id": lead_id})
    found = plans.run(plpy, LOCK_SQL, ["bigint"], [lead_id])
    if not found:
        plpy.error(
            f"lead {lead_id} does not exist",
            hint="The lead was deleted or the id is wrong; nothing was changed.",
            sqlstate="P0002",
        )
    lead = found[0]
    current = lead["enrichment_stage"]
    if current != stage:
        # A late or repeated event: the lead has moved on (it never moves back).
        return json.dumps(
            {"applied": False, "reason": f"lead is at {current}, not {stage}", "lead_id": lead_id}
        )

    # Every external call was made and paid for, whatever the outcome.
    names, amounts, counts = cost_rows
    if names:
        plans.run(
            plpy,
            COSTS_SQL,
            ["bigint", "bigint", "text[]", "numeric[]", "int[]"],
            [lead["campaign_id"], lead_id, names, amounts, counts],
        )

    enrichment = json.loads(lead["data"])
    fields = {k: lead[k] for k in FILLABLE}
    score = qualified = None
    if error:
        new_stage = "failed"
        enrichment["failure"] = {"stage": stage, "reason": str(error)[:1000]}
    else:
        _fill(fields, data.pop("lead", None))
        new_stage = NEXT_STAGE[stage]
        if stage == "stage4":
            settings = plans.run(plpy, SETTINGS_SQL, [], [])[0]
            threshold = settings["threshold"]
            outcome = scoring.score(
                enrichment,
                json.loads(settings["weights"]),
                None if threshold is None else int(threshold),
            )
            score, qualified = outcome.confidence_score, outcome.is_qualified
            data = {**data, "breakdown": outcome.breakdown}
        enrichment[stage] = data

    plans.run(
        plpy,
        UPDATE_SQL,
        ["bigint", "text", "text", "text", "text", "text", "text", "int", "bool"],
        [lead_id, new_stage, json.dumps(enrichment), *fields.values(), score, qualified],
    )
    plans.run(plpy, APPLIED_SQL, ["uuid"], [webhook_id])
    return json.dumps({"applied": True, "lead_id": lead_id, "stage": new_stage})


def configure_scoring(plpy, weights: str | None, threshold: int | None) -> str:
    """The body of prospectpro.configure_scoring(); returns the settings in force."""
    parsed = None if weights is None else json.loads(weights)
    try:
        if parsed is not None and not isinstance(parsed, dict):
            raise ValueError("weights must be a JSON object of factor: weight")
        # Scoring an empty lead validates both, with scoring's own messages.
        scoring.score({}, parsed, threshold)
    except (ValueError, OverflowError) as exc:
        _bad_argument(
            plpy,
            str(exc),
            f"Factors: {', '.join(scoring.DEFAULT_WEIGHTS)}; weights >= 0; threshold 0-100.",
        )
    if parsed is not None:
        plans.run(plpy, SAVE_SETTING_SQL, ["text", "text"], ["scoring.weights", json.dumps(parsed)])
    if threshold is not None:
        plans.run(plpy, SAVE_SETTING_SQL, ["text", "text"], ["scoring.threshold", str(threshold)])
    current = plans.run(plpy, SETTINGS_SQL, [], [])[0]
    weights_now = {**scoring.DEFAULT_WEIGHTS, **(json.loads(current["weights"]) or {})}
    threshold_now = current["threshold"]
    return json.dumps(
        {
            "weights": weights_now,
            "threshold": scoring.DEFAULT_THRESHOLD if threshold_now is None else int(threshold_now),
        }
    )
