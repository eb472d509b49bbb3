"""Campaign lifecycle: the state machine, lifecycle events, progress milestones,
the budget guard's pause and resume, and the CSV export on completion.

Every event of a campaign carries the ordering key ``campaign:<id>``, so the
outbox delivers them in the order they happened. Figures in the payloads come
from campaign_stats (running counts) and the cost aggregates, never from a
scan of all leads.
"""

from __future__ import annotations

from decimal import Decimal

from . import csv_export, payloads, plans

# The progress milestones announced by progress_update events, in percent.
MILESTONES = (25, 50, 75)
# Set (transaction-locally) by set_campaign_status() so that the event says why.
REASON_SETTING = "prospectpro.reason"

# Lifecycle events of a campaign share an ordering key: they arrive in order.
# Each is also a record of the campaign's timeline, which outlives its delivery.
LIFECYCLE_SQL = """
with queued as (
    insert into prospectpro.outbox (webhook_type, payload, ordering_key)
    select 'campaign_lifecycle', e.p::jsonb, 'campaign:' || e.k
    from unnest($1::text[], $2::bigint[]) with ordinality as e (p, k, n)
    order by e.n
    returning id, payload
)
insert into prospectpro.campaign_lifecycle_events
    (campaign_id, lifecycle_event, payload, event_id)
select (q.payload ->> 'campaign_id')::bigint, q.payload ->> 'lifecycle_event', q.payload, q.id
from queued as q
order by q.id
"""
CAMPAIGN_SQL = """
select c.id, c.name, c.target_count, c.budget_limit, c.status,
       prospectpro.campaign_lead_total(c.id) as total_leads,
       coalesce(s.finished_leads, 0) as finished_leads,
       coalesce(s.qualified_leads, 0) as qualified_leads,
       prospectpro.campaign_spend(c.id) as spend
from prospectpro.campaigns as c
left join prospectpro.campaign_stats as s on s.campaign_id = c.id
where c.id = any($1)
order by c.id
"""
# The campaigns whose finished leads changed since a round last looked, taken
# by one round (a concurrent round skips them, and finds them next time).
DUE_SQL = """
update prospectpro.campaign_stats as s
set progress_due = false
from (
    select d.campaign_id from prospectpro.campaign_stats as d
    where d.progress_due
    order by d.campaign_id
    for update skip locked
) as due
where s.campaign_id = due.campaign_id
returning s.campaign_id, s.finished_leads, s.last_milestone
"""
MILESTONE_SQL = "update prospectpro.campaign_stats set last_milestone = $2 where campaign_id = $1"
STATUS_SQL = """
update prospectpro.campaigns set status = $2
where id = any($1) and status = any($3)
"""
# The same lead payload as the capture triggers build (prospectpro._lead_payload).
RESUME_SQL = """
insert into prospectpro.outbox (webhook_type, payload)
select 'lead_enrichment', prospectpro._lead_payload(
    n.id, n.campaign_id, n.business_name, n.confidence_score, n.is_qualified,
    n.enrichment_stage, 'stage_changed'
)
from prospectpro.enhanced_leads as n
where n.campaign_id = any($1) and n.enrichment_stage not in ('completed', 'failed')
  and not exists (select from prospectpro.outbox as o
    where o.status = 'pending' and o.webhook_type = 'lead_enrichment'
    and (o.payload ->> 'lead_id')::bigint = n.id)
order by n.id
"""
REASON_SQL = "select pg_catalog.set_config('prospectpro.reason', $1, true)"
EXPORT_ROWS_SQL = """
select id as lead_id, business_name, website, phone, address, email,
       confidence_score, is_qualified, enrichment_stage
from prospectpro.enhanced_leads
where campaign_id = $1 and is_qualified
order by id
"""
EXPORT_SQL = """
insert into prospectpro.campaign_exports (campaign_id, csv, row_count, sha256)
values ($1, $2, $3, $4)
on conflict (campaign_id) do update set
    csv = excluded.csv, row_count = excluded.row_count, sha256 = excluded.sha256,
    created_at = now()
"""

_transitions: dict[tuple[str, str], str] = {}


def transitions(plpy) -> dict[tuple[str, str], str]:
    """(from, to) -> lifecycle event, read once per session from the state machine table."""
    if not _transitions:
        rows = plpy.execute("select * from prospectpro.campaign_transitions")
        for r in rows:
            _transitions[(r["from_status"], r["to_status"])] = r["lifecycle_event"]
    return _transitions


def _emit(plpy, events: list[tuple[dict, str, dict]]) -> None:
    """Queue (campaign row, lifecycle event, extra event data) triples, in order."""
    if not events:
        return
    texts = [
        payloads.to_json(
            payloads.campaign_lifecycle(
                row,
                event,
                total_leads=row["total_leads"],
                qualified_leads=row["qualified_leads"],
                finished_leads=row["finished_leads"],
                processing_cost=row["spend"],
                **extra,
            )
        )
        for row, event, extra in events
    ]
    keys = [row["id"] for row, _, _ in events]
    plans.run(plpy, LIFECYCLE_SQL, ["text[]", "bigint[]"], [texts, keys])


def _campaigns(plpy, ids) -> list[dict]:
    return list(plans.run(plpy, CAMPAIGN_SQL, ["bigint[]"], [list(ids)]))


def _reason(plpy) -> str | None:
    rows = plpy.execute(f"select current_setting('{REASON_SETTING}', true) as r")
    return rows[0]["r"] or None


def set_status(plpy, ids: list[int], status: str, reason: str | None, only_from: tuple) -> None:
    """Move campaigns (those currently in ``only_from``) to ``status``, saying why."""
    plans.run(plpy, REASON_SQL, ["text"], [reason or ""])
    plans.run(plpy, STATUS_SQL, ["bigint[]", "text", "text[]"], [ids, status, list(only_from)])
    plans.run(plpy, REASON_SQL, ["text"], [""])


def on_insert(plpy) -> None:
    """AFTER INSERT on campaigns, per statement: a 'created' event each."""
    ids = [r["id"] for r in plpy.execute("select id from new_rows order by id")]
    plans.run(
        plpy,
        "insert into prospectpro.campaign_stats (campaign_id) select unnest($1::bigint[])",
        ["bigint[]"],
        [ids],
    )
    _emit(plpy, [(row, "created", {"old_status": None}) for row in _campaigns(plpy, ids)])


def on_update(plpy) -> None:
    """AFTER UPDATE on campaigns, per statement: announce status changes, export
    completed campaigns, and resume paused ones whose budget was raised."""
    changed = plpy.execute(
        "select n.id, o.status as old_status, n.status as new_status,"
        " o.budget_limit is distinct from n.budget_limit as budget_changed"
        " from new_rows as n join old_rows as o on o.id = n.id"
        " where n.status is distinct from o.status"
        " or n.budget_limit is distinct from o.budget_limit"
        " order by n.id"
    )
    # _100_campaign_transition (plpgsql, before each row) refused any illegal move.
    allowed = transitions(plpy)
    moves = [r for r in changed if r["old_status"] != r["new_status"]]
    rows = {row["id"]: row for row in _campaigns(plpy, {r["id"] for r in changed})}
    reason = _reason(plpy)
    events = []
    for r in moves:
        extra = {"old_status": r["old_status"], "new_status": r["new_status"]}
        if reason:
            extra["reason"] = reason
        events.append((rows[r["id"]], allowed[(r["old_status"], r["new_status"])], extra))
    _emit(plpy, events)
    for r in moves:
        if r["new_status"] == "completed":
            _export(plpy, r["id"])
    resumable = [
        row["id"]
        for row in (rows[r["id"]] for r in changed if r["budget_changed"])
        if row["status"] == "paused" and _under_budget(row)
    ]
    if resumable:
        set_status(plpy, resumable, "processing", "budget_limit raised", ("paused",))
        _resume_leads(plpy, resumable)


def _under_budget(row: dict) -> bool:
    return row["budget_limit"] is None or Decimal(row["spend"]) < Decimal(row["budget_limit"])


def _resume_leads(plpy, ids: list[int]) -> None:
    """Re-announce the leads a pause held back: those mid-pipeline with no event waiting."""
    plans.run(plpy, RESUME_SQL, ["bigint[]"], [ids])


def _export(plpy, campaign_id: int) -> None:
    rows = plans.run(plpy, EXPORT_ROWS_SQL, ["bigint"], [campaign_id])
    made = csv_export.build_csv(list(rows), list(csv_export.DEFAULT_COLUMNS))
    plans.run(
        plpy,
        EXPORT_SQL,
        ["bigint", "text", "int", "text"],
        [campaign_id, made.csv_text, made.row_count, made.sha256],
    )


def run_pass(plpy) -> None:
    """What every delivery round does last for the campaigns, off the writers' path.

    Counts the leads of newly committed lead_created events into their
    campaigns, then, for each campaign whose finished leads changed, announces
    each of the 25/50/75 % milestones crossed once, in order (also when a
    statement jumps over several), and completes the campaign whose target
    leads all finished. Its stats row stays locked until the round commits:
    the milestones, the last one announced and the completion commit together.
    """
    plans.run(plpy, "select prospectpro._count_new_leads()")
    due = list(plans.run(plpy, DUE_SQL))
    if not due:
        return
    rows = {row["id"]: row for row in _campaigns(plpy, [s["campaign_id"] for s in due])}
    events, completing = [], []
    for s in due:
        row = rows.get(s["campaign_id"])
        if row is None or row["status"] != "processing":
            continue
        percent = payloads.completion_percentage(s["finished_leads"], row["target_count"])
        crossed = [m for m in MILESTONES if s["last_milestone"] < m <= percent]
        for milestone in crossed:
            extra = {"old_status": "processing", "new_status": "processing", "milestone": milestone}
            events.append((row, "progress_update", extra))
        if crossed:
            plans.run(plpy, MILESTONE_SQL, ["bigint", "int"], [row["id"], crossed[-1]])
        if s["finished_leads"] >= row["target_count"]:
            completing.append(row["id"])
    _emit(plpy, events)
    if completing:
        set_status(plpy, completing, "completed", "every target lead finished", ("processing",))


def guard_budgets(plpy, campaign_ids: list[int]) -> None:
    """After costs are recorded: pause each processing campaign whose spend reached its budget."""
    over = [
        row
        for row in _campaigns(plpy, campaign_ids)
        if row["status"] == "processing" and not _under_budget(row)
    ]
    for row in over:
        reason = f"budget_limit reached: spent {row['spend']} of {row['budget_limit']}"
        set_status(plpy, [row["id"]], "paused", reason, ("processing",))
