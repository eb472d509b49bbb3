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
select prospectpro.set_campaign_status(2, 'error', 'provider quota exhausted');
