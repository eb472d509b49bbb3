"""Statement-level capture of lead changes.

One PL/Python call per statement, whatever its row count: the trigger reads
the statement's transition tables, queues every lead_enrichment event with one
INSERT, and hands the per-campaign count changes to the campaign lifecycle.
"""

from __future__ import annotations

from . import campaigns
from .outbox import LEAD_COLUMNS, queue_leads

# Leads of a paused (over budget) or cancelled campaign get no enrichment events.
ACTIVE = (
    "exists (select from prospectpro.campaigns as c"
    " where c.id = n.campaign_id and c.status not in ('paused', 'cancelled'))"
)

INSERTED_SQL = f"select {LEAD_COLUMNS} from new_rows as n where {ACTIVE} order by n.id"

# Only a change of stage or qualification is an event.
CHANGED_SQL = f"""
select {LEAD_COLUMNS}
from new_rows as n
join old_rows as o on o.id = n.id
where (n.enrichment_stage is distinct from o.enrichment_stage
       or n.is_qualified is distinct from o.is_qualified)
  and {ACTIVE}
order by n.id
"""


def _counts(table: str, sign: str) -> str:
    return (
        f"select campaign_id, {sign}1 as total,"
        f" {sign}(enrichment_stage in ('completed', 'failed'))::int as finished,"
        f" {sign}is_qualified::int as qualified from {table}"
    )


def _deltas_sql(*parts: str) -> str:
    """Per-campaign changes of lead counts from the statement's transition tables."""
    return (
        "select campaign_id, sum(total)::int as total, sum(finished)::int as finished,"
        " sum(qualified)::int as qualified from ("
        + " union all ".join(parts)
        + ") as d group by campaign_id"
        " having sum(total) <> 0 or sum(finished) <> 0 or sum(qualified) <> 0"
    )


INSERT_DELTAS_SQL = _deltas_sql(_counts("new_rows", "+"))
UPDATE_DELTAS_SQL = _deltas_sql(_counts("new_rows", "+"), _counts("old_rows", "-"))
DELETE_DELTAS_SQL = _deltas_sql(_counts("old_rows", "-"))

# Transition tables are new per statement, so their queries are not prepared.


def on_insert(plpy) -> None:
    """AFTER INSERT, FOR EACH STATEMENT: a stage-1 event per new lead."""
    campaigns.lead_progress(plpy, list(plpy.execute(INSERT_DELTAS_SQL)))
    queue_leads(plpy, plpy.execute(INSERTED_SQL), "lead_created")


def on_update(plpy) -> None:
    """AFTER UPDATE, FOR EACH STATEMENT: an event per lead whose stage or qualification changed."""
    queue_leads(plpy, plpy.execute(CHANGED_SQL), "stage_changed")
    campaigns.lead_progress(plpy, list(plpy.execute(UPDATE_DELTAS_SQL)))


def on_delete(plpy) -> None:
    """AFTER DELETE, FOR EACH STATEMENT: keep the campaigns' lead counts right."""
    campaigns.lead_progress(plpy, list(plpy.execute(DELETE_DELTAS_SQL)))
