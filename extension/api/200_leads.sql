-- Lead enrichment: capture of lead changes, and the one call through which the
-- receiver writes a stage's result back.
--
-- Capture runs on every write users make, so it is PL/pgSQL over the
-- statement's transition tables: its plans are kept for the session, and one
-- statement queues every event at once. (PL/Python would re-plan each query on
-- a transition table per statement, and runs each in a subtransaction: that
-- cost single-row INSERTs 60 % of their speed; see docs/webhooks.md.) A lead
-- insert writes its event and nothing else: the delivery rounds count the leads
-- of lead_created events and announce milestones (campaigns.run_pass, the end
-- of deliver_due).

create or replace function prospectpro._lead_payload(
    lead_id bigint,
    campaign_id bigint,
    business_name text,
    confidence_score integer,
    is_qualified boolean,
    enrichment_stage text,
    event text
) returns jsonb
language sql
stable
as $$
    -- Keys are a public contract: add, never rename or remove.
    select pg_catalog.jsonb_build_object(
        'lead_id', lead_id,
        'campaign_id', campaign_id,
        'webhook_type', 'lead_enrichment',
        'enrichment_stage', enrichment_stage,
        'lead_data', pg_catalog.jsonb_build_object(
            'business_name', business_name,
            'confidence_score', confidence_score,
            'is_qualified', is_qualified
        ),
        'webhook_metadata', pg_catalog.jsonb_build_object(
            'trigger_time', pg_catalog.to_char(
                pg_catalog.statement_timestamp() at time zone 'UTC',
                'YYYY-MM-DD"T"HH24:MI:SS"Z"'
            ),
            'trigger_source', 'database_trigger',
            'event', event
        )
    )
$$;
comment on function prospectpro._lead_payload(
    bigint, bigint, text, integer, boolean, text, text
) is
'Internal: the lead_enrichment payload of one lead; event is lead_created or stage_changed.';

-- The tail the three lead triggers share: what a statement changed per
-- campaign (leads that queued no lead_created event, finished and qualified
-- leads, and whether it started the campaign) goes into the campaign's counts.
create or replace function prospectpro._count_leads(
    campaign_ids bigint[],
    totals integer[],
    started boolean[],
    finished integer[],
    qualified integer[]
) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    -- Each backend adds to its own slot: concurrent writers never wait on one row.
    insert into prospectpro.campaign_lead_counts as t (campaign_id, slot, total_leads)
    select c.campaign_id, (pg_backend_pid() % 16)::smallint, c.total
    from unnest(campaign_ids, totals) as c (campaign_id, total)
    where c.total <> 0
    on conflict (campaign_id, slot) do update
        set total_leads = t.total_leads + excluded.total_leads;

    -- A campaign being deleted (its leads cascading away) has no stats row left.
    -- The next delivery round announces the milestones crossed.
    update prospectpro.campaign_stats as s
    set
        finished_leads = s.finished_leads + c.finished,
        qualified_leads = s.qualified_leads + c.qualified,
        progress_due = s.progress_due or c.finished <> 0
    from unnest(campaign_ids, finished, qualified) as c (campaign_id, finished, qualified)
    where s.campaign_id = c.campaign_id and (c.finished <> 0 or c.qualified <> 0);

    if true = any(started) then
        -- The lifecycle trigger reads the reason from this transaction-local setting.
        perform set_config('prospectpro.reason', 'first leads arrived', true);
        update prospectpro.campaigns as c set status = 'processing'
        from unnest(campaign_ids, started) as n (campaign_id, started)
        where c.id = n.campaign_id and n.started and c.status = 'created';
        perform set_config('prospectpro.reason', '', true);
    end if;
end
$$;
comment on function prospectpro._count_leads(
    bigint[], integer[], boolean[], integer[], integer[]
) is
'Internal, the lead triggers'' shared tail: adds each campaign''s change in leads (those that queued no lead_created event), finished and qualified leads to its counts, and starts the campaigns that got their first leads.';

create or replace function prospectpro.trigger_lead_enrichment_webhook()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    counted_here boolean;
    ids bigint[];
    totals integer[];
    started boolean[];
    finished integer[];
    qualified integer[];
begin
    with lead as (
        select
            n.id, n.campaign_id, n.business_name, n.confidence_score,
            n.is_qualified, n.enrichment_stage, c.status
        from new_rows as n
        inner join prospectpro.campaigns as c on n.campaign_id = c.id
    ),

    queued as (
        insert into prospectpro.outbox (webhook_type, payload)
        select
            'lead_enrichment',
            prospectpro._lead_payload(
                l.id, l.campaign_id, l.business_name, l.confidence_score,
                l.is_qualified, l.enrichment_stage, 'lead_created'
            )
        from lead as l
        where l.status not in ('paused', 'cancelled')
    )

    -- Rarely true: a campaign's first leads, leads inserted finished or
    -- qualified, leads of a paused or cancelled campaign (which queue no event).
    select
        bool_or(
            l.status in ('created', 'paused', 'cancelled') or l.is_qualified
            or l.enrichment_stage in ('completed', 'failed')
        )
    into counted_here
    from lead as l;

    if counted_here is not true then
        -- The single-row insert's path: the event is all it writes.
        return null;
    end if;

    select
        array_agg(p.campaign_id),
        array_agg(p.total),
        array_agg(p.started),
        array_agg(p.finished),
        array_agg(p.qualified)
    into ids, totals, started, finished, qualified
    from (
        select
            n.campaign_id,
            count(*) filter (where c.status in ('paused', 'cancelled'))::integer as total,
            bool_or(c.status = 'created') as started,
            count(*) filter (
                where n.enrichment_stage in ('completed', 'failed')
            )::integer as finished,
            count(*) filter (where n.is_qualified)::integer as qualified
        from new_rows as n
        inner join prospectpro.campaigns as c on n.campaign_id = c.id
        group by n.campaign_id
    ) as p;
    perform prospectpro._count_leads(ids, totals, started, finished, qualified);
    return null;
end
$$;
comment on function prospectpro.trigger_lead_enrichment_webhook() is
'Statement-level AFTER INSERT trigger: queues a stage-1 lead_enrichment event per lead (delivery rounds count them into their campaigns).';

create or replace function prospectpro.trigger_lead_status_webhook()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    ids bigint[];
    totals integer[];
    started boolean[];
    finished integer[];
    qualified integer[];
begin
    with changed as (
        select
            n.id, n.campaign_id, n.business_name, n.confidence_score,
            n.is_qualified, n.enrichment_stage, c.status,
            o.campaign_id as old_campaign_id,
            o.enrichment_stage as old_stage,
            o.is_qualified as old_qualified
        from new_rows as n
        inner join old_rows as o on n.id = o.id
        inner join prospectpro.campaigns as c on n.campaign_id = c.id
        where
            n.enrichment_stage is distinct from o.enrichment_stage
            or n.is_qualified is distinct from o.is_qualified
            or n.campaign_id is distinct from o.campaign_id
    ),

    queued as (
        insert into prospectpro.outbox (webhook_type, payload)
        select
            'lead_enrichment',
            prospectpro._lead_payload(
                l.id, l.campaign_id, l.business_name, l.confidence_score,
                l.is_qualified, l.enrichment_stage, 'stage_changed'
            )
        from changed as l
        where
            (
                l.enrichment_stage is distinct from l.old_stage
                or l.is_qualified is distinct from l.old_qualified
            )
            and l.status not in ('paused', 'cancelled')
    ),

    -- What each lead adds to its campaign now, and takes from its campaign before.
    moves as (
        select
            l.campaign_id,
            1 as total,
            (l.enrichment_stage in ('completed', 'failed'))::integer as finished,
            l.is_qualified::integer as qualified,
            l.status = 'created' as created
        from changed as l
        union all
        select
            l.old_campaign_id,
            -1,
            -(l.old_stage in ('completed', 'failed'))::integer,
            -l.old_qualified::integer,
            false
        from changed as l
    ),

    per_campaign as (
        select
            m.campaign_id,
            sum(m.total)::integer as total,
            sum(m.finished)::integer as finished,
            sum(m.qualified)::integer as qualified,
            bool_or(m.created) and sum(m.total) > 0 as started
        from moves as m
        group by m.campaign_id
    )

    select
        array_agg(p.campaign_id),
        array_agg(p.total),
        array_agg(p.started),
        array_agg(p.finished),
        array_agg(p.qualified)
    into ids, totals, started, finished, qualified
    from per_campaign as p;

    if ids is not null then
        perform prospectpro._count_leads(ids, totals, started, finished, qualified);
    end if;
    return null;
end
$$;
comment on function prospectpro.trigger_lead_status_webhook() is
'Statement-level AFTER UPDATE trigger: queues a lead_enrichment event per lead whose stage or qualification changed, and keeps the campaigns'' counts.';

create or replace function prospectpro.trigger_lead_deleted()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    ids bigint[];
    totals integer[];
    started boolean[];
    finished integer[];
    qualified integer[];
begin
    select
        array_agg(p.campaign_id),
        array_agg(p.total),
        array_agg(false),
        array_agg(p.finished),
        array_agg(p.qualified)
    into ids, totals, started, finished, qualified
    from (
        select
            o.campaign_id,
            -- A campaign being deleted (its leads cascading away) has no counts left.
            case
                when exists (
                    select from prospectpro.campaigns as c where c.id = o.campaign_id
                ) then -count(*)::integer
                else 0
            end as total,
            -count(*) filter (
                where o.enrichment_stage in ('completed', 'failed')
            )::integer as finished,
            -count(*) filter (where o.is_qualified)::integer as qualified
        from old_rows as o
        group by o.campaign_id
    ) as p;

    if ids is not null then
        perform prospectpro._count_leads(ids, totals, started, finished, qualified);
    end if;
    return null;
end
$$;
comment on function prospectpro.trigger_lead_deleted() is
'Statement-level AFTER DELETE trigger on leads: keeps the campaigns'' lead counts right.';

create or replace trigger _500_lead_enrichment_webhook
after insert on prospectpro.enhanced_leads
referencing new table as new_rows
for each statement execute function prospectpro.trigger_lead_enrichment_webhook();

create or replace trigger _500_lead_status_webhook
after update on prospectpro.enhanced_leads
referencing old table as old_rows new table as new_rows
for each statement execute function prospectpro.trigger_lead_status_webhook();

create or replace trigger _500_lead_deleted
after delete on prospectpro.enhanced_leads
referencing old table as old_rows
for each statement execute function prospectpro.trigger_lead_deleted();

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

create or replace function prospectpro.apply_enrichment_batch(outcomes jsonb)
returns jsonb
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl import enrichment
return enrichment.apply_batch(plpy, outcomes)
$python$;
comment on function prospectpro.apply_enrichment_batch(jsonb) is
'Apply many stage outcomes in one transaction, as apply_enrichment applies one: outcomes is '
'a JSON array of {"webhook_id", "lead_id", "stage", "result", "costs", "error"} (result, '
'costs and error optional); returns the answers in order. A lead that does not exist '
'answers {"applied": false, "reason": "lead does not exist"}; an invalid outcome refuses the '
'whole batch.';

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
