-- Constraints: bad rows are rejected with messages that name what is wrong.
begin;
select plan(14);

insert into prospectpro.campaigns (id, name, target_count, budget_limit)
values (9001, 'Constraint tests', 10, 50);

select throws_ok(
    $$insert into prospectpro.campaigns (name) values ('  ')$$,
    '23514', null, 'a blank campaign name is rejected'
);
select throws_like(
    $$insert into prospectpro.campaigns (name, target_count) values ('x', 0)$$,
    '%campaign_target_count_positive%', 'target_count must be positive'
);
select throws_like(
    $$insert into prospectpro.campaigns (name, budget_limit) values ('x', -1)$$,
    '%campaign_budget_limit_not_negative%', 'a negative budget is rejected'
);
select throws_like(
    $$insert into prospectpro.campaigns (name, status) values ('x', 'archived')$$,
    '%campaign_status_known%', 'an unknown campaign status is rejected'
);
select throws_ok(
    $$insert into prospectpro.enhanced_leads (campaign_id, business_name)
      values (424242, 'Nobody')$$,
    '23503', null, 'a lead must belong to an existing campaign'
);
select throws_like(
    $$insert into prospectpro.enhanced_leads (campaign_id, business_name, confidence_score)
      values (9001, 'Acme', 101)$$,
    '%lead_confidence_score_range%', 'confidence_score above 100 is rejected'
);
select throws_like(
    $$insert into prospectpro.enhanced_leads (campaign_id, business_name, confidence_score)
      values (9001, 'Acme', -1)$$,
    '%lead_confidence_score_range%', 'a negative confidence_score is rejected'
);
select throws_like(
    $$insert into prospectpro.enhanced_leads (campaign_id, business_name, enrichment_stage)
      values (9001, 'Acme', 'stage9')$$,
    '%lead_enrichment_stage_known%', 'an unknown enrichment stage is rejected'
);
select throws_like(
    $$insert into prospectpro.enhanced_leads (campaign_id, business_name, enrichment_data)
      values (9001, 'Acme', '[1, 2]')$$,
    '%lead_enrichment_data_object%', 'enrichment_data must be a JSON object'
);
select throws_like(
    $$insert into prospectpro.enhanced_leads (campaign_id, business_name, email)
      values (9001, 'Acme', 'not an email')$$,
    '%lead_email_shape%', 'a malformed email is rejected'
);
select throws_like(
    $$insert into prospectpro.api_costs (api_name, cost) values ('hunter_io', -0.01)$$,
    '%api_cost_not_negative%', 'a negative cost is rejected'
);
select throws_like(
    $$insert into prospectpro.api_costs (api_name, cost, request_count)
      values ('hunter_io', 0.01, 0)$$,
    '%api_cost_request_count_positive%', 'request_count must be at least 1'
);
select throws_like(
    $$insert into prospectpro.api_costs (api_name, cost) values ('Bad Name!', 0.01)$$,
    '%api_cost_api_name_required%', 'api_name must be a short lowercase identifier'
);
select lives_ok(
    $$insert into prospectpro.api_costs (campaign_id, api_name, cost, request_count)
      values (9001, 'google_places_text_search', 0.032, 1)$$,
    'a valid cost is recorded'
);

select * from finish();
rollback;
