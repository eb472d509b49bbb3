"""apply_enrichment: how one stage's outcome reaches a lead.

The receiver runs stages 1-3 against external APIs and reports each outcome
here; stage 4 (scoring) runs here. Every outcome is idempotent per webhook-id:
the first claims the id in applied_deliveries, a redelivery finds it taken and
changes nothing. A lead only ever moves forward.

apply_enrichment_batch() applies many outcomes in one transaction with the
same few statements as one (one cost insert, one lead update), so the cost
rules and the capture triggers run once per batch rather than once per
webhook: the receiver gathers the outcomes of concurrent webhooks into one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from . import contracts, plans, scoring

STAGES = contracts.WORK_STAGES
NEXT_STAGE = dict(zip(STAGES, contracts.LEAD_STAGES[1:], strict=False))
# Lead columns a stage may fill in; what the user entered is never overwritten.
FILLABLE = ("website", "phone", "address", "email")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# What api_costs accepts: its api_name check, numeric(12, 4) and integer.
API_NAME = re.compile(r"^[a-z0-9_.-]{1,64}$")
MAX_COST = Decimal("99999999.9999")
MAX_REQUESTS = 2**31 - 1
MAX_RESULT_BYTES = 256 * 1024
MAX_BATCH = 1000
OUTCOME_KEYS = {"webhook_id", "lead_id", "stage", "result", "costs", "error"}
UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
# The answer for an outcome whose lead is gone: apply_enrichment raises instead.
NO_LEAD = "lead does not exist"

# A batch's statements: each covers every outcome of the batch at once, so
# the triggers on api_costs and enhanced_leads run once per batch.
LOCK_SQL = """
select id, campaign_id, enrichment_stage, enrichment_data::text as data,
       website, phone, address, email
from prospectpro.enhanced_leads where id = any($1) order by id for update
"""
# The records are partitioned by time, so a webhook-id's uniqueness is this
# look into every partition. It runs after LOCK_SQL has locked the leads:
# whoever applies the same webhook-id next waits for the lock, then sees the claim.
CLAIM_SQL = """
insert into prospectpro.applied_deliveries (webhook_id, lead_id, stage, applied)
select c.webhook_id, c.lead_id, c.stage, false
from unnest($1::uuid[], $2::bigint[], $3::text[]) as c (webhook_id, lead_id, stage)
where not exists (
    select from prospectpro.applied_deliveries as a where a.webhook_id = c.webhook_id
)
returning webhook_id::text as webhook_id
"""
SEEN_SQL = """
select webhook_id::text as webhook_id from prospectpro.applied_deliveries
where webhook_id = any($1::uuid[])
"""
COSTS_SQL = """
insert into prospectpro.api_costs (campaign_id, lead_id, api_name, cost, request_count)
select * from unnest($1::bigint[], $2::bigint[], $3::text[], $4::numeric[], $5::int[])
"""
UPDATE_SQL = """
update prospectpro.enhanced_leads as l
set enrichment_stage = u.stage, enrichment_data = u.data::jsonb,
    website = u.website, phone = u.phone, address = u.address, email = u.email,
    confidence_score = coalesce(u.score, l.confidence_score),
    is_qualified = coalesce(u.qualified, l.is_qualified)
from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::int[], $9::bool[])
    as u (id, stage, data, website, phone, address, email, score, qualified)
where l.id = u.id
"""
APPLIED_SQL = """
update prospectpro.applied_deliveries set applied = true where webhook_id = any($1::uuid[])
"""
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


@dataclass(frozen=True)
class Outcome:
    """One stage's outcome as the receiver reports it, validated."""

    webhook_id: str
    lead_id: int
    stage: str
    data: dict
    costs: list[tuple[str, Decimal, int]]
    error: str | None


def _parse_costs(plpy, items: Any, where: str) -> list[tuple[str, Decimal, int]]:
    """Validate costs: a JSON array of {api_name, cost, request_count}."""
    hint = (
        'Pass costs as [{"api_name": "hunter_email_verifier", "cost": 0.01, "request_count": 1}].'
    )
    if not isinstance(items, list):
        _bad_argument(plpy, f"{where}costs must be a JSON array", hint)
    parsed = []
    for item in items:
        if not isinstance(item, dict) or not API_NAME.match(str(item.get("api_name"))):
            _bad_argument(
                plpy, f"{where}each cost needs an api_name like hunter_io: {item!r}"[:300], hint
            )
        try:
            amount = Decimal(str(item.get("cost")))
        except InvalidOperation:
            amount = Decimal(-1)
        count = item.get("request_count", 1)
        # bool is an int to Python, not a request count.
        countable = type(count) is int and 1 <= count <= MAX_REQUESTS
        if not amount.is_finite() or not 0 <= amount <= MAX_COST or not countable:
            _bad_argument(plpy, f"{where}invalid cost for {item['api_name']}: {item!r}"[:300], hint)
        parsed.append((item["api_name"], amount, count))
    return parsed


def _outcome(plpy, webhook_id, lead_id, stage, data, costs, error, size, where="") -> Outcome:
    """Check one outcome's arguments; ``size`` is its result's length as JSON text."""
    if webhook_id is None or lead_id is None:
        _bad_argument(
            plpy,
            f"{where}webhook_id and lead_id are required",
            "Pass the webhook-id header and the payload's lead_id.",
        )
    if stage not in STAGES:
        _bad_argument(plpy, f"{where}unknown stage {stage!r}", f"Use one of {', '.join(STAGES)}.")
    if size > MAX_RESULT_BYTES:
        _bad_argument(
            plpy,
            f"{where}result is too large",
            f"Keep a stage result under {MAX_RESULT_BYTES} bytes.",
        )
    if not isinstance(data, dict) or not isinstance(data.get("lead", {}), dict):
        _bad_argument(
            plpy,
            f"{where}result must be a JSON object, and its lead key an object of lead columns",
            'Pass e.g. {"business_verified": true, "lead": {"phone": "+1 619 555 0100"}}.',
        )
    return Outcome(webhook_id, lead_id, stage, data, _parse_costs(plpy, costs, where), error)


def _fill(fields: dict, found: dict | None) -> None:
    """Fill the lead columns a stage found and the lead lacks."""
    for key, value in (found or {}).items():
        usable = isinstance(value, str) and value and (key != "email" or EMAIL.match(value))
        if key in FILLABLE and fields[key] is None and usable:
            fields[key] = value[:500]


def apply(plpy, webhook_id, lead_id, stage, result, costs, error) -> str:
    """The body of prospectpro.apply_enrichment(); returns its JSON answer."""
    outcome = _outcome(
        plpy,
        webhook_id,
        lead_id,
        stage,
        json.loads(result or "{}"),
        json.loads(costs or "[]"),
        error,
        len(result or ""),
    )
    (answer,) = _apply(plpy, [outcome])
    if answer.get("reason") == NO_LEAD:
        plpy.error(
            f"lead {lead_id} does not exist",
            hint="The lead was deleted or the id is wrong; nothing was changed.",
            sqlstate="P0002",
        )
    return json.dumps(answer)


def apply_batch(plpy, outcomes: str | None) -> str:
    """The body of prospectpro.apply_enrichment_batch(); returns the answers, in order."""
    hint = (
        'Pass [{"webhook_id": "<uuid>", "lead_id": 42, "stage": "stage1", "result": {}, '
        f'"costs": [], "error": null}}, ...]: 1 to {MAX_BATCH} outcomes.'
    )
    items = json.loads(outcomes or "null")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        _bad_argument(plpy, f"outcomes must be a JSON array of 1 to {MAX_BATCH} objects", hint)
    parsed = []
    for n, item in enumerate(items):
        where = f"outcome {n}: "
        if not isinstance(item, dict) or set(item) - OUTCOME_KEYS:
            keys = ", ".join(sorted(OUTCOME_KEYS))
            _bad_argument(plpy, f"{where}must be an object with no keys but {keys}", hint)
        webhook_id, lead_id = item.get("webhook_id"), item.get("lead_id")
        if webhook_id is not None:
            if not isinstance(webhook_id, str) or not UUID.fullmatch(webhook_id):
                _bad_argument(plpy, f"{where}webhook_id must be a UUID", hint)
            webhook_id = webhook_id.lower()
        if lead_id is not None and (type(lead_id) is not int or not 0 < lead_id < 2**63):
            _bad_argument(plpy, f"{where}lead_id must be a positive integer", hint)
        error = item.get("error")
        if error is not None and not isinstance(error, str):
            _bad_argument(plpy, f"{where}error must be a string or null", hint)
        # Optional, as apply_enrichment's arguments are: absent or null is the default.
        data = {} if item.get("result") is None else item["result"]
        costs = [] if item.get("costs") is None else item["costs"]
        size = len(json.dumps(data, ensure_ascii=False))  # as long as its jsonb text
        parsed.append(
            _outcome(plpy, webhook_id, lead_id, item.get("stage"), data, costs, error, size, where)
        )
    return json.dumps(_apply(plpy, parsed))


def _apply(plpy, outcomes: list[Outcome]) -> list[dict]:
    """Apply outcomes in order, each statement once for all of them; one answer each.

    Leads are locked in id order, so concurrent batches never deadlock on them.
    """
    leads = {
        row["id"]: dict(row)
        for row in plans.run(plpy, LOCK_SQL, ["bigint[]"], [sorted({o.lead_id for o in outcomes})])
    }
    # Each webhook-id is claimed once, by its first outcome whose lead exists.
    first: dict[str, int] = {}
    for n, o in enumerate(outcomes):
        if o.lead_id in leads:
            first.setdefault(o.webhook_id, n)
    order = sorted(first)
    claimed = {
        row["webhook_id"]
        for row in plans.run(
            plpy,
            CLAIM_SQL,
            ["uuid[]", "bigint[]", "text[]"],
            [
                order,
                [outcomes[first[w]].lead_id for w in order],
                [outcomes[first[w]].stage for w in order],
            ],
        )
    }

    # A webhook-id applied before its lead was deleted is still a duplicate delivery.
    missing = [o.webhook_id for o in outcomes if o.lead_id not in leads]
    seen = set()
    if missing:
        seen = {r["webhook_id"] for r in plans.run(plpy, SEEN_SQL, ["uuid[]"], [missing])}

    answers: list[dict] = []
    costs: list[tuple] = []
    changed: dict[int, dict] = {}
    applied: list[str] = []
    scoring_settings = None
    for n, o in enumerate(outcomes):
        lead = leads.get(o.lead_id)
        if lead is None:
            reason = "duplicate delivery" if o.webhook_id in seen else NO_LEAD
        elif first[o.webhook_id] != n or o.webhook_id not in claimed:
            reason = "duplicate delivery"
        elif lead["enrichment_stage"] != o.stage:
            # A late or repeated event: the lead has moved on (it never moves back).
            reason = f"lead is at {lead['enrichment_stage']}, not {o.stage}"
        else:
            reason = None
        if reason is not None:
            answers.append({"applied": False, "reason": reason, "lead_id": o.lead_id})
            continue

        # Every external call was made and paid for, whatever the outcome.
        costs += [(lead["campaign_id"], o.lead_id, *cost) for cost in o.costs]
        if "enrichment" not in lead:
            lead["enrichment"] = json.loads(lead["data"])
            lead["score"] = lead["qualified"] = None
        enrichment, data = lead["enrichment"], dict(o.data)
        if o.error:
            new_stage = "failed"
            enrichment["failure"] = {"stage": o.stage, "reason": str(o.error)[:1000]}
        else:
            _fill(lead, data.pop("lead", None))
            new_stage = NEXT_STAGE[o.stage]
            if o.stage == "stage4":
                scoring_settings = scoring_settings or plans.run(plpy, SETTINGS_SQL, [], [])[0]
                threshold = scoring_settings["threshold"]
                scored = scoring.score(
                    enrichment,
                    json.loads(scoring_settings["weights"]),
                    None if threshold is None else int(threshold),
                )
                lead["score"], lead["qualified"] = scored.confidence_score, scored.is_qualified
                data = {**data, "breakdown": scored.breakdown}
            enrichment[o.stage] = data
        lead["enrichment_stage"] = new_stage
        changed[o.lead_id] = lead
        applied.append(o.webhook_id)
        answers.append({"applied": True, "lead_id": o.lead_id, "stage": new_stage})

    if costs:
        plans.run(
            plpy,
            COSTS_SQL,
            ["bigint[]", "bigint[]", "text[]", "numeric[]", "int[]"],
            [list(column) for column in zip(*costs, strict=True)],
        )
    if changed:
        rows = [
            (
                lead_id,
                lead["enrichment_stage"],
                json.dumps(lead["enrichment"]),
                *(lead[k] for k in FILLABLE),
                lead["score"],
                lead["qualified"],
            )
            for lead_id, lead in changed.items()
        ]
        types = ["bigint[]", "text[]", "text[]", "text[]", "text[]", "text[]", "text[]"]
        columns = [list(column) for column in zip(*rows, strict=True)]
        plans.run(plpy, UPDATE_SQL, [*types, "int[]", "bool[]"], columns)
        plans.run(plpy, APPLIED_SQL, ["uuid[]"], [applied])
    return answers


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
