"""Queueing events into the outbox, in bulk: one INSERT per statement."""

from __future__ import annotations

from . import payloads, plans

# The lead columns a lead_enrichment payload is built from (lead alias n).
LEAD_COLUMNS = (
    "n.id, n.campaign_id, n.business_name, n.confidence_score, n.is_qualified, n.enrichment_stage"
)

LEADS_SQL = """
insert into prospectpro.outbox (webhook_type, payload)
select 'lead_enrichment', p::jsonb from pg_catalog.unnest($1::text[]) as p
"""
# Lifecycle events of a campaign share an ordering key: they arrive in order.
LIFECYCLE_SQL = """
insert into prospectpro.outbox (webhook_type, payload, ordering_key)
select 'campaign_lifecycle', p::jsonb, 'campaign:' || k
from unnest($1::text[], $2::bigint[]) as e (p, k)
"""


def queue_leads(plpy, rows, event: str) -> None:
    """A lead_enrichment event per lead row (LEAD_COLUMNS)."""
    if rows:
        plans.run(plpy, LEADS_SQL, ["text[]"], [payloads.lead_enrichment_batch(rows, event)])


def queue_lifecycle(plpy, events: list[dict]) -> None:
    """campaign_lifecycle payloads, in the order given."""
    if events:
        texts = [payloads.to_json(p) for p in events]
        keys = [p["campaign_id"] for p in events]
        plans.run(plpy, LIFECYCLE_SQL, ["text[]", "bigint[]"], [texts, keys])
