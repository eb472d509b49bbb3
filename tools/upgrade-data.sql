-- Data an old version writes before tools/check-upgrades upgrades it: two
-- campaigns through their lifecycle (created, started, a milestone, an error
-- with its reason), so that the upgrade is seen to keep their timeline.
insert into prospectpro.campaigns (id, name, target_count) values
(1, 'Before the upgrade', 4),
(2, 'Failed before the upgrade', 10);
insert into prospectpro.enhanced_leads (campaign_id, business_name)
select
    c.id as campaign_id,
    'Lead ' || n as business_name
from generate_series(1, 4) as n cross join (values (1), (2)) as c (id);
update prospectpro.enhanced_leads set enrichment_stage = 'completed'
where campaign_id = 1 and business_name in ('Lead 1', 'Lead 2');
-- Since 1.2 a delivery round counts the leads and announces milestones: what
-- its pass does, where the version has one.
do $$
begin
    if pg_catalog.to_regproc('prospectpro._campaign_pass') is not null then
        perform prospectpro._campaign_pass();
    end if;
end
$$;
select prospectpro.set_campaign_status(2, 'error', 'provider quota exhausted');

-- Events in every state, with their attempts: the upgrade keeps them all, and
-- the delivery totals read the same after it.
select prospectpro._emit('cost_alert', jsonb_build_object('n', n))
from generate_series(1, 6) as n;
update prospectpro.outbox
set status = 'delivered', attempts = 1, delivered_at = created_at + interval '1 second'
where webhook_type = 'cost_alert' and payload ->> 'n' in ('1', '2');
update prospectpro.outbox
set status = 'dead', attempts = 2, last_error = 'HTTP 500'
where webhook_type = 'cost_alert' and payload ->> 'n' = '3';
insert into prospectpro.delivery_attempts (
    event_id, webhook_id, webhook_type, attempt, status, http_status, latency_ms
)
select
    o.id as event_id,
    o.webhook_id,
    o.webhook_type,
    a.n as attempt,
    case when o.status = 'delivered' then 'success' else 'failed' end as status,
    case when o.status = 'delivered' then 200 else 500 end as http_status,
    4.5 * a.n as latency_ms
from prospectpro.outbox as o
cross join lateral generate_series(1, o.attempts) as a (n)
where o.webhook_type = 'cost_alert';
-- Costs over every cost rule's threshold (daily spend, cost per lead, the rate
-- limit, and an hour of spend far above the three before it), on a day long
-- past: alerts and their events, whose payloads an upgrade may rewrite.
insert into prospectpro.api_costs (campaign_id, api_name, cost, request_count, created_at)
values (null, 'google_places', 1, 1, '2026-01-05 06:10Z');
insert into prospectpro.api_costs (campaign_id, api_name, cost, request_count, created_at)
values (null, 'google_places', 1.2, 1, '2026-01-05 07:10Z');
insert into prospectpro.api_costs (campaign_id, api_name, cost, request_count, created_at)
values (null, 'google_places', 0.9, 1, '2026-01-05 08:10Z');
insert into prospectpro.api_costs (campaign_id, api_name, cost, request_count, created_at)
values (1, 'hunter_email_verifier', 60, 150, '2026-01-05 09:10:30Z');
