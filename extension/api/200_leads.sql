-- Lead enrichment: capture of lead changes, and the one call through which the
-- receiver writes a stage's result back.

create or replace function prospectpro.trigger_lead_enrichment_webhook()
returns trigger
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl import leads
leads.on_insert(plpy)
$python$;
comment on function prospectpro.trigger_lead_enrichment_webhook() is
'Statement-level AFTER INSERT trigger: queues a stage-1 lead_enrichment event per new lead.';

create or replace function prospectpro.trigger_lead_status_webhook()
returns trigger
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl import leads
leads.on_update(plpy)
$python$;
comment on function prospectpro.trigger_lead_status_webhook() is
'Statement-level AFTER UPDATE trigger: queues a lead_enrichment event per lead whose stage or qualification changed.';

create or replace trigger _500_lead_enrichment_webhook
after insert on prospectpro.enhanced_leads
referencing new table as new_rows
for each statement execute function prospectpro.trigger_lead_enrichment_webhook();

create or replace trigger _500_lead_status_webhook
after update on prospectpro.enhanced_leads
referencing old table as old_rows new table as new_rows
for each statement execute function prospectpro.trigger_lead_status_webhook();

create or replace function prospectpro.apply_enrichment(
    webhook_id uuid,
    lead_id bigint,
    stage text,
    result jsonb default '{}',
    costs jsonb default '[]',
    error text default null
) returns jsonb
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl import enrichment
return enrichment.apply(plpy, webhook_id, lead_id, stage, result, costs, error)
$python$;
comment on function prospectpro.apply_enrichment(uuid, bigint, text, jsonb, jsonb, text) is
'Write one enrichment stage''s outcome back: merge result into the lead, record costs '
'([{"api_name", "cost", "request_count"}]), and advance the stage (stage4 scores the lead). '
'With error, the lead is marked failed. Idempotent per webhook_id; a lead never moves back.';

create or replace function prospectpro.configure_scoring(
    weights jsonb default null,
    threshold integer default null
) returns jsonb
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl import enrichment
return enrichment.configure_scoring(plpy, weights, threshold)
$python$;
comment on function prospectpro.configure_scoring(jsonb, integer) is
'Override stage 4''s scoring weights (a JSON object of factor: weight) and/or the qualification threshold (0-100); returns the configuration in force.';

-- A lead_enrichment event that went dead marks its lead failed, with the reason.
create or replace function prospectpro._on_dead(events bigint[])
returns void
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    update prospectpro.enhanced_leads as l
    set
        enrichment_stage = 'failed',
        enrichment_data = l.enrichment_data || jsonb_build_object(
            'failure', jsonb_build_object(
                'stage', l.enrichment_stage,
                'reason', concat_ws(': ', o.last_error, (
                    select a.response_excerpt from prospectpro.delivery_attempts as a
                    where a.event_id = o.id order by a.id desc limit 1
                )),
                'at', now()
            )
        )
    from prospectpro.outbox as o
    where
        o.id = any(events)
        and o.webhook_type = 'lead_enrichment'
        and l.id = (o.payload ->> 'lead_id')::bigint
        and l.enrichment_stage = o.payload ->> 'enrichment_stage'
$$;
