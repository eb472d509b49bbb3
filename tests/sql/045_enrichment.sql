-- Lead enrichment in the database: statement-level capture (one PL/Python
-- call per statement, one event per row), and apply_enrichment: merging,
-- costs, idempotency per webhook-id, never moving back, failures, scoring.
begin;
select plan(35);

set local track_functions = 'pl';

create function pg_temp.lead_events() returns bigint
language sql as $$
    select count(*) from prospectpro.outbox where webhook_type = 'lead_enrichment'
$$;

insert into prospectpro.campaigns (id, name, target_count) values (8001, 'Bulk', 100000);
insert into prospectpro.enhanced_leads (campaign_id, business_name)
select
    8001 as campaign_id,
    'Bulk ' || n as business_name
from generate_series(1, 10000) as n;
select is(pg_temp.lead_events(), 10000::bigint, 'a 10,000-row INSERT queues 10,000 events');
select is(
    pg_stat_get_xact_function_calls('prospectpro.trigger_lead_enrichment_webhook'::regproc),
    1::bigint, '... with one trigger call for the whole statement'
);
select is(
    (
        select array_agg(distinct payload ->> 'enrichment_stage')
        from prospectpro.outbox where webhook_type = 'lead_enrichment'
    ),
    array['stage1'], 'new leads start at stage 1'
);
update prospectpro.enhanced_leads set phone = '+1 555 0100' where campaign_id = 8001;
select is(pg_temp.lead_events(), 10000::bigint, 'an update of neither stage nor qualification: no event');
update prospectpro.enhanced_leads set is_qualified = true
where campaign_id = 8001 and business_name in ('Bulk 1', 'Bulk 2');
select is(pg_temp.lead_events(), 10002::bigint, 'a change of qualification: one event per lead');
select is(
    pg_stat_get_xact_function_calls('prospectpro.trigger_lead_status_webhook'::regproc),
    2::bigint, '... one trigger call per UPDATE statement'
);

-- apply_enrichment.
insert into prospectpro.enhanced_leads (id, campaign_id, business_name, email)
values (900100, 8001, 'Applied Cafe', 'owner@applied.example');
select is(
    prospectpro.apply_enrichment(
        'a0000000-0000-0000-0000-000000000001', 900100, 'stage1',
        '{"business_verified": true, "business_status": "OPERATIONAL", "rating": 4.0,
          "lead": {"phone": "+1 619 555 0101", "email": "other@applied.example"}}',
        '[{"api_name": "google_places_text_search", "cost": 0.04},
          {"api_name": "google_places_details", "cost": 0.025}]'
    ),
    '{"applied": true, "lead_id": 900100, "stage": "stage2"}'::jsonb,
    'stage 1 applied: the lead moves to stage 2'
);
select results_eq(
    $$select enrichment_stage, phone, email, enrichment_data -> 'stage1' ->> 'rating'
      from prospectpro.enhanced_leads where id = 900100$$,
    $$values ('stage2', '+1 619 555 0101', 'owner@applied.example', '4.0')$$,
    'the result is merged; empty columns filled, entered ones kept'
);
select is(
    (select sum(cost) from prospectpro.api_costs where lead_id = 900100), 0.065,
    'each call''s cost is recorded'
);
select is(
    prospectpro.apply_enrichment(
        'a0000000-0000-0000-0000-000000000001', 900100, 'stage1', '{}',
        '[{"api_name": "google_places_text_search", "cost": 0.04}]'
    ) ->> 'reason',
    'duplicate delivery', 'a redelivered webhook-id is recognised'
);
select is(
    (select count(*)::integer from prospectpro.api_costs where lead_id = 900100), 2,
    '... and records no cost twice'
);
select is(
    prospectpro.apply_enrichment(
        'a0000000-0000-0000-0000-000000000002', 900100, 'stage1', '{"business_verified": false}'
    ) ->> 'applied',
    'false', 'a late stage-1 result for a lead at stage 2 changes nothing'
);
select is(
    (select enrichment_stage from prospectpro.enhanced_leads where id = 900100), 'stage2',
    '... the lead never moves back'
);
select is(
    prospectpro.apply_enrichment(
        'a0000000-0000-0000-0000-000000000003', 900100, 'stage2',
        '{"website_reachable": true, "emails": ["owner@applied.example"], "phones": ["1"]}'
    ) ->> 'stage',
    'stage3', 'stage 2 applied'
);
select is(
    prospectpro.apply_enrichment(
        'a0000000-0000-0000-0000-000000000004', 900100, 'stage3',
        '{"result": "deliverable", "status": "valid"}'
    ) ->> 'stage',
    'stage4', 'stage 3 applied'
);
select is(
    prospectpro.configure_scoring(threshold => 100) ->> 'threshold', '100',
    'the qualification threshold is configurable'
);
select is(
    prospectpro.apply_enrichment('a0000000-0000-0000-0000-000000000005', 900100, 'stage4')
    ->> 'stage',
    'completed', 'stage 4 scores the lead in the database'
);
select results_eq(
    $$select confidence_score, is_qualified from prospectpro.enhanced_leads where id = 900100$$,
    $$values (99, false)$$,
    'score 99 (a rating of 4 stars of 5) does not qualify at threshold 100'
);
select ok(
    (
        select enrichment_data -> 'stage4' -> 'breakdown' ? 'email_deliverable'
        from prospectpro.enhanced_leads where id = 900100
    ),
    'the score''s breakdown is kept'
);

insert into prospectpro.enhanced_leads (id, campaign_id, business_name)
values (900200, 8001, 'Failing Cafe');
select is(
    prospectpro.apply_enrichment(
        'a0000000-0000-0000-0000-000000000006', 900200, 'stage1', '{}', '[]',
        'google_places_text_search: REQUEST_DENIED'
    ) ->> 'stage',
    'failed', 'a definitive failure marks the lead failed'
);
select is(
    (
        select enrichment_data -> 'failure' ->> 'reason'
        from prospectpro.enhanced_leads where id = 900200
    ),
    'google_places_text_search: REQUEST_DENIED', '... with the reason'
);

select isnt(
    hint_of($$select prospectpro.apply_enrichment(
        'a0000000-0000-0000-0000-000000000007', 900200, 'stage9')$$),
    null, 'an unknown stage gives a hint'
);
select isnt(
    hint_of($$select prospectpro.apply_enrichment(
        'a0000000-0000-0000-0000-000000000008', 900200, 'stage1', '{}',
        '[{"api_name": "x", "cost": -1}]')$$),
    null, 'a negative cost gives a hint'
);
select throws_ok(
    $$select prospectpro.apply_enrichment(
        'a0000000-0000-0000-0000-000000000009', 424242, 'stage1')$$,
    'P0002', null, 'an unknown lead is an error'
);
select isnt(
    hint_of($$select prospectpro.configure_scoring('{"charm": 10}')$$),
    null, 'configure_scoring: an unknown factor gives a hint'
);
select is(
    (
        select count(*)::integer from prospectpro.applied_deliveries
        where webhook_id = 'a0000000-0000-0000-0000-000000000008'
    ),
    0, 'a refused call records nothing, not even its webhook-id'
);

-- apply_enrichment_batch: many outcomes, each statement once for all of them.
insert into prospectpro.enhanced_leads (id, campaign_id, business_name)
values (900301, 8001, 'Batch One'), (900302, 8001, 'Batch Two');
create temporary table batch_calls as
select
    pg_stat_get_xact_function_calls('prospectpro.trigger_cost_monitoring'::regproc) as costs,
    pg_stat_get_xact_function_calls('prospectpro.trigger_lead_status_webhook'::regproc) as leads;
select is(
    prospectpro.apply_enrichment_batch($$[
        {"webhook_id": "b0000000-0000-0000-0000-000000000001", "lead_id": 900301,
         "stage": "stage1", "result": {"business_verified": true, "lead": {"phone": "+1 1"}},
         "costs": [{"api_name": "google_places_text_search", "cost": 0.04}]},
        {"webhook_id": "b0000000-0000-0000-0000-000000000002", "lead_id": 424242,
         "stage": "stage1"},
        {"webhook_id": "b0000000-0000-0000-0000-000000000003", "lead_id": 900302,
         "stage": "stage1", "costs": [{"api_name": "google_places_text_search", "cost": 0.04},
                                      {"api_name": "google_places_details", "cost": 0.025}]},
        {"webhook_id": "B0000000-0000-0000-0000-000000000001", "lead_id": 900301,
         "stage": "stage1"},
        {"webhook_id": "b0000000-0000-0000-0000-000000000004", "lead_id": 900302,
         "stage": "stage3"}
    ]$$),
    $$[{"applied": true, "lead_id": 900301, "stage": "stage2"},
       {"applied": false, "reason": "lead does not exist", "lead_id": 424242},
       {"applied": true, "lead_id": 900302, "stage": "stage2"},
       {"applied": false, "reason": "duplicate delivery", "lead_id": 900301},
       {"applied": false, "reason": "lead is at stage2, not stage3", "lead_id": 900302}]$$::jsonb,
    'a batch answers each outcome in order: applied, no lead, duplicate id, stale'
);
select results_eq(
    $$select id, enrichment_stage, phone from prospectpro.enhanced_leads
      where id in (900301, 900302) order by id$$,
    $$values (900301::bigint, 'stage2', '+1 1'), (900302::bigint, 'stage2', null)$$,
    '... each applied outcome moves its lead on'
);
select is(
    (select sum(cost) from prospectpro.api_costs where lead_id in (900301, 900302)), 0.105,
    '... and records the costs of the applied outcomes'
);
select results_eq(
    $$select
        pg_stat_get_xact_function_calls('prospectpro.trigger_cost_monitoring'::regproc) - costs,
        pg_stat_get_xact_function_calls('prospectpro.trigger_lead_status_webhook'::regproc)
        - leads
      from batch_calls$$,
    $$values (1::bigint, 1::bigint)$$,
    '... with one cost statement and one lead update for the whole batch'
);
select is(
    (
        select array_agg(webhook_id::text order by webhook_id) from prospectpro.applied_deliveries
        where webhook_id::text like 'b0000000%'
    ),
    array[
        'b0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000003',
        'b0000000-0000-0000-0000-000000000004'
    ],
    '... claiming each webhook-id once, none for a lead that does not exist'
);

select is(
    prospectpro.apply_enrichment_batch($$[
        {"webhook_id": "b0000000-0000-0000-0000-000000000005", "lead_id": 900302,
         "stage": "stage2", "result": null, "costs": null}
    ]$$) -> 0 ->> 'stage',
    'stage3', 'a null result and null costs are the defaults, as for apply_enrichment'
);
select is(
    prospectpro.apply_enrichment_batch(jsonb_build_array(jsonb_build_object(
        'webhook_id', 'b0000000-0000-0000-0000-000000000006', 'lead_id', 900302,
        'stage', 'stage3', 'result', jsonb_build_object('note', repeat('é', 200000))
    ))) -> 0 ->> 'applied',
    'true', 'the size limit counts characters, as apply_enrichment does (not escapes)'
);
delete from prospectpro.enhanced_leads where id = 900301;
select is(
    prospectpro.apply_enrichment_batch($$[
        {"webhook_id": "b0000000-0000-0000-0000-000000000001", "lead_id": 900301,
         "stage": "stage1"},
        {"webhook_id": "b0000000-0000-0000-0000-000000000007", "lead_id": 900301,
         "stage": "stage2"}
    ]$$),
    $$[{"applied": false, "reason": "duplicate delivery", "lead_id": 900301},
       {"applied": false, "reason": "lead does not exist", "lead_id": 900301}]$$::jsonb,
    'a lead deleted since: a webhook-id applied before is still a duplicate delivery'
);
select is(
    prospectpro.apply_enrichment(
        'b0000000-0000-0000-0000-000000000001', 900301, 'stage1'
    ) ->> 'reason',
    'duplicate delivery', '... for apply_enrichment too (no P0002)'
);

select * from finish();
rollback;
