"""Statement-level capture of lead changes into lead_enrichment events.

One PL/Python call per statement, whatever its row count: the trigger reads
the statement's transition table, builds every payload, and queues them all
with one INSERT.
"""

from __future__ import annotations

from . import payloads

COLUMNS = (
    "n.id, n.campaign_id, n.business_name, n.confidence_score, n.is_qualified, n.enrichment_stage"
)

INSERTED_SQL = f"select {COLUMNS} from new_rows as n order by n.id"

# Only a change of stage or qualification is an event.
CHANGED_SQL = f"""
select {COLUMNS}
from new_rows as n
join old_rows as o on o.id = n.id
where n.enrichment_stage is distinct from o.enrichment_stage
   or n.is_qualified is distinct from o.is_qualified
order by n.id
"""

QUEUE_SQL = """
insert into prospectpro.outbox (webhook_type, payload)
select 'lead_enrichment', p::jsonb from pg_catalog.unnest($1::text[]) as p
"""

_queue_plan = None


def _queue(plpy, rows, event: str) -> None:
    global _queue_plan
    if not rows:
        return
    if _queue_plan is None:
        _queue_plan = plpy.prepare(QUEUE_SQL, ["text[]"])
    plpy.execute(_queue_plan, [payloads.lead_enrichment_batch(rows, event)])


def on_insert(plpy) -> None:
    """AFTER INSERT, FOR EACH STATEMENT: a stage-1 event per new lead."""
    # Transition tables are new per statement, so these queries are not cached.
    _queue(plpy, plpy.execute(INSERTED_SQL), "lead_created")


def on_update(plpy) -> None:
    """AFTER UPDATE, FOR EACH STATEMENT: an event per lead whose stage or qualification changed."""
    _queue(plpy, plpy.execute(CHANGED_SQL), "stage_changed")
