-- ProspectPro 1.0 -> 1.1: the schema changes of release 1.1, each under the
-- heading of what it is for. Functions, triggers, views and grants follow from
-- extension/api/ (see README.md in this folder).

-- Issue 13: without pg_cron, the scheduling functions name the alternative.
drop function prospectpro._cron_schedule(text, text, text);

-- Issue 14: one source for each contract. The webhook types get a table of
-- their own, which queries read instead of repeating the list; the endpoint
-- tables reference it.
create table prospectpro.webhook_types (
    webhook_type prospectpro.webhook_type primary key
);
insert into prospectpro.webhook_types (webhook_type)
values ('lead_enrichment'), ('cost_alert'), ('campaign_lifecycle');
comment on table prospectpro.webhook_types is
'The webhook types, one row each: lead_enrichment, cost_alert, campaign_lifecycle.';
alter table prospectpro.endpoints
add foreign key (webhook_type) references prospectpro.webhook_types;
alter table prospectpro.endpoint_health
add foreign key (webhook_type) references prospectpro.webhook_types;
