-- Campaign lifecycle: the state machine allows exactly its transitions, each
-- milestone is announced once (also when a statement jumps over several) by
-- the next delivery round's pass (prospectpro._campaign_pass, run here by hand),
-- completion exports the qualified leads as correctly quoted CSV, and the
-- budget guard pauses and resumes.
begin;
select plan(33);

create function pg_temp.events(campaign bigint) returns text[]
language sql as $$
    select coalesce(array_agg(
        lifecycle_event || coalesce(':' || milestone, '') order by id
    ), '{}')
    from prospectpro.campaign_lifecycle_log where campaign_id = campaign
$$;

-- Every pair of statuses: allowed exactly when the state machine says so.
create function pg_temp.try_move(from_status text, to_status text) returns boolean
language plpgsql as $$
declare
    campaign bigint;
begin
    insert into prospectpro.campaigns (name) values ('move') returning id into campaign;
    -- Walk to from_status along allowed steps (all reachable from created).
    if from_status in ('processing', 'completed', 'paused') then
        update prospectpro.campaigns set status = 'processing' where id = campaign;
    end if;
    if from_status in ('completed', 'paused') then
        update prospectpro.campaigns set status = from_status where id = campaign;
    end if;
    if from_status in ('error', 'cancelled') then
        update prospectpro.campaigns set status = from_status where id = campaign;
    end if;
    begin
        update prospectpro.campaigns set status = to_status where id = campaign;
        return true;
    exception when object_not_in_prerequisite_state then
        return false;
    end;
end
$$;

select is(
    (
        select array_agg(f.s || '->' || t.s order by f.s, t.s)
        from
            unnest(array[
                'created', 'processing', 'paused', 'completed', 'error', 'cancelled'
            ]) as f (s)
        cross join
            unnest(array[
                'created', 'processing', 'paused', 'completed', 'error', 'cancelled'
            ]) as t (s)
        where f.s <> t.s and pg_temp.try_move(f.s, t.s)
    ),
    (
        select array_agg(from_status || '->' || to_status order by from_status, to_status)
        from prospectpro.campaign_transitions
    ),
    'exactly the transitions of the state machine are allowed'
);
insert into prospectpro.campaigns (id, name) values (7002, 'Done');
update prospectpro.campaigns set status = 'processing' where id = 7002;
update prospectpro.campaigns set status = 'completed' where id = 7002;
select throws_ok(
    $$update prospectpro.campaigns set status = 'processing' where id = 7002$$,
    '55000', 'campaign 7002 cannot go from completed to processing',
    'completed -> processing is refused, saying so'
);
select is(
    hint_of(
        $$update prospectpro.campaigns set status = 'processing' where id = 7002$$
    ),
    'completed is a final status.',
    'the refusal of a final status says so'
);
insert into prospectpro.campaigns (id, name) values (7001, 'Hinted');
select is(
    hint_of($$update prospectpro.campaigns set status = 'completed' where id = 7001$$),
    'From created a campaign may go to: cancelled, error, processing.',
    'the HINT lists the allowed transitions'
);
select isnt(
    hint_of($$select prospectpro.set_campaign_status(424242, 'processing')$$),
    null, 'set_campaign_status: an unknown campaign gives a hint'
);
select isnt(
    hint_of($$select prospectpro.set_campaign_status(7001, 'archived')$$),
    null, 'set_campaign_status: an unknown status gives a hint'
);

-- Leads inserted already finished (an import) count towards progress, and
-- start the campaign in the same statement.
insert into prospectpro.campaigns (id, name, target_count) values (7150, 'Imported', 4);
insert into prospectpro.enhanced_leads (
    campaign_id, business_name, enrichment_stage, is_qualified
)
values
(7150, 'Done 1', 'completed', true),
(7150, 'Done 2', 'failed', false),
(7150, 'New 1', 'stage1', false);
select prospectpro._campaign_pass();
select is(
    pg_temp.events(7150),
    array['created', 'processing_started', 'progress_update:25', 'progress_update:50'],
    'leads inserted finished start the campaign and announce its milestones'
);
select is(
    (
        select array[finished_leads, qualified_leads] from prospectpro.campaign_stats
        where campaign_id = 7150
    ),
    array[2, 1], '... and count as finished and qualified'
);

-- A lead insert writes its event and nothing else: the next round counts it.
insert into prospectpro.campaigns (id, name, target_count) values (7170, 'Counted later', 10);
update prospectpro.campaigns set status = 'processing' where id = 7170;
insert into prospectpro.enhanced_leads (campaign_id, business_name)
values (7170, 'Quiet 1'), (7170, 'Quiet 2');
select is(
    (select count(*)::integer from prospectpro.campaign_lead_counts where campaign_id = 7170),
    0, 'a lead insert into a processing campaign writes no count, only its events'
);
select prospectpro._campaign_pass();
select prospectpro._campaign_pass();
select is(prospectpro.campaign_lead_total(7170), 2, 'the next round counts its leads, once');

-- A lead moving to another campaign moves its counts; a deleted lead, and a
-- deleted campaign's leads, leave them.
insert into prospectpro.campaigns (id, name, target_count)
values (7160, 'Move from', 10), (7161, 'Move to', 10);
insert into prospectpro.enhanced_leads (campaign_id, business_name, enrichment_stage, is_qualified)
values
(7160, 'Mover', 'completed', true),
(7160, 'Stayer', 'stage2', false);
update prospectpro.enhanced_leads set campaign_id = 7161 where business_name = 'Mover';
select prospectpro._campaign_pass();
select is(
    array[
        prospectpro.campaign_lead_total(7160), prospectpro.campaign_lead_total(7161),
        (select finished_leads from prospectpro.campaign_stats where campaign_id = 7160),
        (select qualified_leads from prospectpro.campaign_stats where campaign_id = 7161)
    ],
    array[1, 1, 0, 1],
    'a lead moved between campaigns moves its count, finished and qualified'
);
delete from prospectpro.enhanced_leads where business_name = 'Mover';
select is(
    array[
        prospectpro.campaign_lead_total(7161),
        (select finished_leads from prospectpro.campaign_stats where campaign_id = 7161)
    ],
    array[0, 0],
    'a deleted lead is taken off its campaign''s counts'
);
select lives_ok(
    'delete from prospectpro.campaigns where id = 7160',
    'a campaign with leads can be deleted'
);
select is(
    (select count(*)::integer from prospectpro.campaign_lead_counts where campaign_id = 7160),
    0, '... and leaves no counts behind'
);

-- Lifecycle events and milestones.
insert into prospectpro.campaigns (id, name, target_count, budget_limit)
values (7100, 'Milestones', 8, 100);
select is(pg_temp.events(7100), array['created'], 'INSERT emits created');
insert into prospectpro.enhanced_leads (campaign_id, business_name)
select
    7100 as campaign_id,
    'Lead ' || n as business_name
from generate_series(1, 8) as n;
select is(
    pg_temp.events(7100), array['created', 'processing_started'],
    'the first leads start processing'
);
update prospectpro.enhanced_leads set enrichment_stage = 'completed'
where campaign_id = 7100 and business_name = 'Lead 1';
select prospectpro._campaign_pass();
select is(
    pg_temp.events(7100), array['created', 'processing_started'],
    '1 of 8 finished: no milestone yet'
);
update prospectpro.enhanced_leads set enrichment_stage = 'completed'
where campaign_id = 7100 and business_name in ('Lead 2', 'Lead 3', 'Lead 4', 'Lead 5');
select prospectpro._campaign_pass();
select is(
    pg_temp.events(7100),
    array['created', 'processing_started', 'progress_update:25', 'progress_update:50'],
    'jumping from 12 % to 62 % announces 25 then 50, once each'
);
update prospectpro.enhanced_leads set enrichment_data = '{"touched": true}'
where campaign_id = 7100;
select prospectpro._campaign_pass();
select is(
    cardinality(pg_temp.events(7100)), 4, 'an update that finishes nobody announces nothing'
);
update prospectpro.enhanced_leads
set
    enrichment_stage = 'completed', is_qualified = true, phone = '+1 555 0100',
    address = '1 Main St, San Diego, CA', business_name = 'Joe''s "Best", Tacos'
where campaign_id = 7100 and business_name = 'Lead 6';
select prospectpro._campaign_pass();
select is(
    pg_temp.events(7100),
    array[
        'created', 'processing_started', 'progress_update:25', 'progress_update:50',
        'progress_update:75'
    ],
    '75 % announced once'
);
update prospectpro.enhanced_leads
set enrichment_stage = 'failed', business_name = e'Line\nbreak'
where campaign_id = 7100 and business_name = 'Lead 7';
update prospectpro.enhanced_leads
set enrichment_stage = 'completed', is_qualified = true, business_name = e'Line\nbreak'
where campaign_id = 7100 and business_name = 'Lead 8';
select prospectpro._campaign_pass();
select is(
    (select status from prospectpro.campaigns where id = 7100), 'completed',
    'every target lead finished: the campaign completed itself'
);
select is(
    (pg_temp.events(7100))[6:], array['completed'], 'completed announced once, last'
);
select is(
    (
        select payload -> 'processing_status'
        from prospectpro.campaign_lifecycle_log
        where campaign_id = 7100 and lifecycle_event = 'completed'
    ),
    '{"total_leads": 8, "qualified_leads": 2, "processing_cost": 0.0,
      "completion_percentage": 100}'::jsonb,
    'the completed payload carries the figures of that moment'
);
select is(
    (
        select array_agg(distinct ordering_key) from prospectpro.outbox
        where webhook_type = 'campaign_lifecycle' and payload ->> 'campaign_id' = '7100'
    ),
    array['campaign:7100'], 'lifecycle events of a campaign share its ordering key'
);

-- The export.
select is(
    (select row_count from prospectpro.campaign_exports where campaign_id = 7100), 2,
    'completion exported the qualified leads'
);
select is(
    (select sha256 from prospectpro.campaign_exports where campaign_id = 7100),
    (
        select encode(sha256(convert_to(csv, 'UTF8')), 'hex')
        from prospectpro.campaign_exports where campaign_id = 7100
    ),
    'the checksum is the SHA-256 of the CSV'
);
select matches(
    (select csv from prospectpro.campaign_exports where campaign_id = 7100),
    '^lead_id,business_name,website,phone,address,email,confidence_score,is_qualified,',
    'the export starts with its header row'
);
select ok(
    (select csv from prospectpro.campaign_exports where campaign_id = 7100)
    like e'%,"Joe''s ""Best"", Tacos",,\'+1 555 0100,"1 Main St, San Diego, CA",%',
    'commas and quotes are quoted, a leading + is defused'
);
select ok(
    (select csv from prospectpro.campaign_exports where campaign_id = 7100)
    like e'%,"Line\nbreak",%',
    'an embedded newline is quoted'
);

-- The budget guard.
insert into prospectpro.campaigns (id, name, target_count, budget_limit)
values (7200, 'Budget', 10, 1.00);
insert into prospectpro.enhanced_leads (campaign_id, business_name) values (7200, 'Spender');
insert into prospectpro.api_costs (campaign_id, api_name, cost) values (7200, 'hunter_io', 0.99);
select is(
    (select status from prospectpro.campaigns where id = 7200), 'processing',
    'spend a cent below the budget: the campaign goes on'
);
insert into prospectpro.api_costs (campaign_id, api_name, cost) values (7200, 'hunter_io', 0.01);
select is(
    (select status from prospectpro.campaigns where id = 7200), 'paused',
    'spend reaching the budget (not exceeding it) pauses the campaign'
);
insert into prospectpro.enhanced_leads (campaign_id, business_name) values (7200, 'Held back');
update prospectpro.campaigns set budget_limit = 5 where id = 7200;
select is(
    (select status from prospectpro.campaigns where id = 7200), 'processing',
    'raising the budget resumes it'
);
select is(
    (
        select count(*)::integer from prospectpro.outbox
        where webhook_type = 'lead_enrichment' and payload ->> 'lead_id' = (
            select l.id::text from prospectpro.enhanced_leads as l
            where l.business_name = 'Held back'
        )
    ),
    1, 'a lead held back by the pause gets its event on resume, once'
);

select * from finish();
rollback;
