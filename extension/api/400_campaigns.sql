-- Campaign lifecycle: state machine, lifecycle events, progress milestones,
-- budget guard, CSV export, and the lifecycle views.

create or replace function prospectpro.trigger_campaign_created()
returns trigger
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl import campaigns
campaigns.on_insert(plpy)
$python$;
comment on function prospectpro.trigger_campaign_created() is
'Statement-level AFTER INSERT trigger on campaigns: a created lifecycle event each.';

create or replace function prospectpro.trigger_campaign_changed()
returns trigger
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl import campaigns
campaigns.on_update(plpy)
$python$;
comment on function prospectpro.trigger_campaign_changed() is
'Statement-level AFTER UPDATE trigger on campaigns: emits lifecycle events, exports completed campaigns, resumes paused campaigns whose budget was raised.';

-- The state machine, checked before each row so that the error is a plain one.
create or replace function prospectpro._check_campaign_transition()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    allowed text;
begin
    if not exists (
        select from prospectpro.campaign_transitions as t
        where t.from_status = old.status and t.to_status = new.status
    ) then
        select string_agg(t.to_status, ', ' order by t.to_status) into allowed
        from prospectpro.campaign_transitions as t where t.from_status = old.status;
        raise exception 'campaign % cannot go from % to %', old.id, old.status, new.status
        using errcode = 'object_not_in_prerequisite_state',
        hint = coalesce(
            'From ' || old.status || ' a campaign may go to: ' || allowed || '.',
            old.status || ' is a final status.'
        );
    end if;
    return new;
end
$$;

create or replace trigger _100_campaign_transition
before update of status on prospectpro.campaigns
for each row when (old.status is distinct from new.status)
execute function prospectpro._check_campaign_transition();

create or replace trigger _500_campaign_created
after insert on prospectpro.campaigns
referencing new table as new_rows
for each statement execute function prospectpro.trigger_campaign_created();

create or replace trigger _500_campaign_changed
after update on prospectpro.campaigns
referencing old table as old_rows new table as new_rows
for each statement execute function prospectpro.trigger_campaign_changed();

-- PL/pgSQL, which keeps its plan: it runs for every recorded cost.
create or replace function prospectpro.campaign_lead_total(campaign_id bigint)
returns integer
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
    return (
        select coalesce(sum(n.total_leads), 0)::integer
        from prospectpro.campaign_lead_counts as n
        where n.campaign_id = campaign_lead_total.campaign_id
    );
end
$$;
comment on function prospectpro.campaign_lead_total(bigint) is
'A campaign''s lead count, whatever the leads'' stages: the sum of its campaign_lead_counts slots.';

-- What the writers left to the delivery rounds: counting the leads of
-- lead_created events. Outbox ids are drawn in one order and committed in
-- another, so a round counts up to the last id drawn only once every
-- transaction that was in progress when it read that id has ended (a lead's
-- transaction has its xid before its event draws an id). Rounds of concurrent
-- workers take turns (SKIP LOCKED); each round adds to slot -1.
create or replace function prospectpro._outbox_last_id() returns bigint
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select case when s.is_called then s.last_value else 0 end
    from prospectpro.outbox_id_seq as s
$$;
comment on function prospectpro._outbox_last_id() is
'Internal: the last outbox id drawn, committed or not (0 before the first).';

-- Of the transactions in progress at the snapshot, only those holding a lock
-- on the outbox can still commit an event (a transaction locks the outbox
-- before it draws an id, until it ends): an open transaction that writes
-- elsewhere does not hold the counts back. pg_locks is read (with_locks) only
-- when one of the snapshot's transactions is still in progress; a round asks
-- so of a stretch an earlier round took, not of the one it has just taken,
-- whose writers are still at work.
create or replace function prospectpro._outbox_writers_ended(
    snapshot pg_catalog.pg_snapshot, with_locks boolean
) returns boolean
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
-- PL/pgSQL keeps its plans for the session: as a SQL function this was
-- planned at every call, 20 us a round.
begin
    if not exists (
        select from pg_snapshot_xip(snapshot) as x (xid)
        where pg_xact_status(x.xid) = 'in progress'
    ) then
        return true;
    end if;
    return with_locks and not exists (
        select
        from pg_snapshot_xip(snapshot) as x (xid)
        inner join pg_locks as t
            on
                t.locktype = 'transactionid'
                -- pg_locks shows 32-bit xids: the xid8's low half.
                and t.transactionid = (x.xid::text::bigint % 4294967296)::text::xid
        inner join pg_locks as r
            on
                t.virtualtransaction = r.virtualtransaction
                and r.locktype = 'relation'
                and r.relation = 'prospectpro.outbox'::regclass
        where pg_xact_status(x.xid) = 'in progress'
    );
end
$$;
comment on function prospectpro._outbox_writers_ended(pg_catalog.pg_snapshot, boolean) is
'Internal: whether every transaction in progress at the snapshot that could still commit an outbox event has ended (with_locks false: every transaction).';

create or replace function prospectpro._count_new_leads() returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    counted bigint;  -- the frontier
    upto bigint;  -- the candidate
    snap pg_snapshot;
    fresh boolean := false;  -- upto was taken in this call
    before bigint;
begin
    -- The snapshot must be newer than the read of the sequence: a transaction
    -- snapshot (repeatable read) is older. Such a round leaves it to the next.
    if current_setting('transaction_isolation') <> 'read committed' then
        return;
    end if;
    -- A round with nothing to count takes no lock and writes nothing: its
    -- commit waits for no WAL flush. (No row yet: a fresh install.)
    select f.frontier, f.candidate, f.candidate_snapshot into counted, upto, snap
    from prospectpro.lead_count_frontier as f;
    if
        (upto is null and prospectpro._outbox_last_id() <= coalesce(counted, 0))
        or not prospectpro._outbox_writers_ended(snap, true)
    then
        return;
    end if;
    -- The row is made by the first round, not at install: pg_dump keeps it,
    -- and a restore must not meet it twice.
    insert into prospectpro.lead_count_frontier default values on conflict do nothing;
    select f.frontier, f.candidate, f.candidate_snapshot into counted, upto, snap
    from prospectpro.lead_count_frontier as f for update skip locked;
    if not found then
        return;  -- another round is counting
    end if;
    before := counted;
    loop
        if upto is null then
            exit when fresh;  -- one new stretch per round
            upto := prospectpro._outbox_last_id();
            if upto <= counted then
                upto := null;
                exit;
            end if;
            -- Taken after the read of the sequence, it lists every
            -- transaction that may still commit an id up to the candidate.
            snap := pg_current_snapshot();
            fresh := true;
        end if;
        exit when not prospectpro._outbox_writers_ended(snap, not fresh);
        insert into prospectpro.campaign_lead_counts as t (campaign_id, slot, total_leads)
        select c.id, -1, count(*)
        from prospectpro.outbox as o
        inner join prospectpro.campaigns as c on (o.payload ->> 'campaign_id')::bigint = c.id
        where
            o.id > counted and o.id <= upto
            and o.webhook_type = 'lead_enrichment'
            and o.payload -> 'webhook_metadata' ->> 'event' = 'lead_created'
        group by c.id
        on conflict (campaign_id, slot) do update
            set total_leads = t.total_leads + excluded.total_leads;
        counted := upto;
        upto := null;
        snap := null;
    end loop;
    if counted <> before or fresh then
        update prospectpro.lead_count_frontier as f
        set frontier = counted, candidate = upto, candidate_snapshot = snap;
    end if;
end
$$;
comment on function prospectpro._count_new_leads() is
'Internal, run by every delivery round: adds the lead_created events committed since the last count to their campaigns'' lead counts.';

create or replace function prospectpro._campaign_pass() returns void
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl import campaigns
campaigns.run_pass(plpy)
$python$;
comment on function prospectpro._campaign_pass() is
'Internal: the campaign pass that every delivery round runs last (deliver_due calls its body, campaigns.run_pass, in a subtransaction of its own); callable by hand or from tests. It counts new leads into their campaigns, announces the progress milestones crossed, in order, and completes campaigns whose target leads all finished.';

create or replace function prospectpro.set_campaign_status(
    campaign_id bigint,
    status text,
    reason text default null
) returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform prospectpro._require_primary('set_campaign_status');
    if not exists (
        select from prospectpro.campaigns as c where c.id = set_campaign_status.campaign_id
    ) then
        raise exception 'campaign % does not exist', coalesce(campaign_id::text, 'NULL')
        using errcode = 'invalid_parameter_value',
        hint = 'See prospectpro.campaigns for the ids.';
    end if;
    if status is null or status not in (
        select t.to_status from prospectpro.campaign_transitions as t
    ) then
        raise exception 'unknown campaign status: %', coalesce(status, 'NULL')
        using errcode = 'invalid_parameter_value',
        hint = 'Use processing, completed, error or cancelled (paused is the budget guard''s).';
    end if;
    if pg_catalog.length(reason) > 1000 then
        raise exception 'reason is % characters long', pg_catalog.length(reason)
        using errcode = 'invalid_parameter_value',
        hint = 'Keep a reason under 1000 characters: it travels in a webhook.';
    end if;
    -- The lifecycle trigger reads the reason from this transaction-local setting.
    perform set_config('prospectpro.reason', coalesce(reason, ''), true);
    update prospectpro.campaigns as c set status = set_campaign_status.status
    where c.id = set_campaign_status.campaign_id;
    perform set_config('prospectpro.reason', '', true);
end
$$;
comment on function prospectpro.set_campaign_status(bigint, text, text) is
'Move a campaign to a new status, with the reason carried by its lifecycle event (e.g. an error''s cause). Transitions the state machine refuses raise an error whose HINT lists the allowed ones.';

create or replace view prospectpro.campaign_lifecycle_log as
select
    e.id,
    e.campaign_id,
    e.lifecycle_event,
    e.payload -> 'event_data' ->> 'old_status' as old_status,
    e.payload -> 'event_data' ->> 'new_status' as new_status,
    e.payload -> 'event_data' ->> 'reason' as reason,
    (e.payload -> 'event_data' ->> 'milestone')::integer as milestone,
    e.payload,
    o.status as delivery_status,
    o.attempts as delivery_attempts,
    e.created_at,
    e.event_id
from prospectpro.campaign_lifecycle_events as e
left join prospectpro.outbox as o on e.event_id = o.id;
comment on view prospectpro.campaign_lifecycle_log is
'Every campaign lifecycle event, with the delivery status of its webhook (null once prune() '
'or discard() deleted that event).';

create or replace view prospectpro.campaign_lifecycle_dashboard as
select
    c.id as campaign_id,
    c.name,
    c.status,
    c.target_count,
    prospectpro.campaign_lead_total(c.id) as total_leads,
    coalesce(s.finished_leads, 0) as finished_leads,
    coalesce(s.qualified_leads, 0) as qualified_leads,
    spend.cost as processing_cost,
    c.budget_limit,
    c.budget_limit - spend.cost as budget_left,
    least(100, coalesce(s.finished_leads, 0) * 100 / c.target_count) as completion_percentage,
    last_event.lifecycle_event as last_event,
    last_event.created_at as last_event_at,
    now() - last_event.created_at as time_since_last_event,
    backlog.pending as webhook_backlog,
    x.row_count as export_rows,
    c.created_at,
    c.updated_at
from prospectpro.campaigns as c
left join prospectpro.campaign_stats as s on c.id = s.campaign_id
left join prospectpro.campaign_exports as x on c.id = x.campaign_id
cross join lateral (select prospectpro.campaign_spend(c.id) as cost) as spend
left join lateral (
    select
        e.lifecycle_event,
        e.created_at
    from prospectpro.campaign_lifecycle_events as e
    where e.campaign_id = c.id
    order by e.id desc limit 1
) as last_event on true
cross join lateral (
    select count(*) as pending from prospectpro.outbox as o
    where o.ordering_key = 'campaign:' || c.id and o.status = 'pending'
) as backlog;
comment on view prospectpro.campaign_lifecycle_dashboard is
'One live row per campaign: status, leads, qualified, cost, budget left, completion, last lifecycle event and the webhook backlog for it.';
