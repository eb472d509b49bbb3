"""Statement-level capture of lead changes.

One PL/Python call per statement, whatever its row count: the trigger reads
the statement's transition tables once, queues every lead_enrichment event
with one INSERT, and hands the per-campaign count changes to the campaign
lifecycle. Transition tables exist for one statement only, so these queries
are not kept as prepared plans.
"""

from __future__ import annotations

from collections import defaultdict

from . import campaigns
from .outbox import LEAD_COLUMNS, queue_leads

FINISHED = ("completed", "failed")

INSERTED_SQL = f"""
select {LEAD_COLUMNS}, c.status as campaign_status
from new_rows as n join prospectpro.campaigns as c on c.id = n.campaign_id
order by n.id
"""

# Rows whose stage, qualification or campaign changed, with what they were.
CHANGED_SQL = f"""
select {LEAD_COLUMNS}, c.status as campaign_status,
       o.campaign_id as old_campaign_id, o.enrichment_stage as old_stage,
       o.is_qualified as old_qualified,
       n.enrichment_stage is distinct from o.enrichment_stage
           or n.is_qualified is distinct from o.is_qualified as announced
from new_rows as n
join old_rows as o on o.id = n.id
join prospectpro.campaigns as c on c.id = n.campaign_id
where n.enrichment_stage is distinct from o.enrichment_stage
   or n.is_qualified is distinct from o.is_qualified
   or n.campaign_id is distinct from o.campaign_id
order by n.id
"""

DELETED_SQL = """
select o.campaign_id, o.enrichment_stage as old_stage, o.is_qualified as old_qualified
from old_rows as o
"""


def _count(deltas: dict, campaign_id: int, stage: str, qualified: bool, sign: int) -> None:
    d = deltas[campaign_id]
    d["total"] += sign
    d["finished"] += sign * (stage in FINISHED)
    d["qualified"] += sign * bool(qualified)


def _new_deltas() -> dict:
    return defaultdict(lambda: {"total": 0, "finished": 0, "qualified": 0})


def _announce(plpy, rows, event: str) -> None:
    """Queue an event per lead, except those of a paused or cancelled campaign."""
    queue_leads(plpy, [r for r in rows if r["campaign_status"] not in campaigns.HALTED], event)


def on_insert(plpy) -> None:
    """AFTER INSERT, FOR EACH STATEMENT: a stage-1 event per new lead."""
    rows = plpy.execute(INSERTED_SQL)
    deltas = _new_deltas()
    for r in rows:
        _count(deltas, r["campaign_id"], r["enrichment_stage"], r["is_qualified"], +1)
    statuses = {r["campaign_id"]: r["campaign_status"] for r in rows}
    campaigns.lead_progress(plpy, deltas, statuses)
    _announce(plpy, rows, "lead_created")


def on_update(plpy) -> None:
    """AFTER UPDATE, FOR EACH STATEMENT: an event per lead whose stage or qualification changed."""
    rows = plpy.execute(CHANGED_SQL)
    deltas = _new_deltas()
    for r in rows:
        _count(deltas, r["campaign_id"], r["enrichment_stage"], r["is_qualified"], +1)
        _count(deltas, r["old_campaign_id"], r["old_stage"], r["old_qualified"], -1)
    _announce(plpy, [r for r in rows if r["announced"]], "stage_changed")
    statuses = {r["campaign_id"]: r["campaign_status"] for r in rows}
    campaigns.lead_progress(plpy, deltas, statuses)


def on_delete(plpy) -> None:
    """AFTER DELETE, FOR EACH STATEMENT: keep the campaigns' lead counts right."""
    deltas = _new_deltas()
    for r in plpy.execute(DELETED_SQL):
        _count(deltas, r["campaign_id"], r["old_stage"], r["old_qualified"], -1)
    campaigns.lead_progress(plpy, deltas, {})
