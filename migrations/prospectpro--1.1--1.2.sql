-- ProspectPro 1.1 -> 1.2: the schema changes of release 1.2, each under the
-- heading of what it is for. Functions, triggers, views and grants follow from
-- extension/api/ (see README.md in this folder).

-- Issue 22: the writer's transaction writes its events and nothing it can
-- defer. Delivery rounds count lead_created events into the campaigns' lead
-- counts (lead_count_frontier says how far) and announce progress milestones
-- (campaign_stats.progress_due says where to look).
alter table prospectpro.campaign_stats
add column progress_due boolean not null default false;
create index campaign_stats_progress_due on prospectpro.campaign_stats (campaign_id)
where progress_due;
comment on table prospectpro.campaign_stats is
'Finished (completed or failed) and qualified leads per campaign, kept by the lead triggers; the last progress milestone announced, and whether a round must look for the next.';
comment on table prospectpro.campaign_lead_counts is
'Leads per campaign, as partial counts per slot: a campaign''s total is their sum. Slot -1 is '
'the delivery rounds'', which count the lead_created events; the others are writers'' (leads '
'that queue no event, moves and deletes).';

create table prospectpro.lead_count_frontier (
    id boolean primary key default true
    constraint lead_count_frontier_one_row check (id),
    frontier bigint not null default 0,
    candidate bigint,
    candidate_snapshot pg_catalog.pg_snapshot
);
comment on table prospectpro.lead_count_frontier is
'One row: the outbox id up to which delivery rounds have counted lead_created events into '
'campaign_lead_counts, and the stretch they count next.';
select pg_catalog.pg_extension_config_dump('prospectpro.lead_count_frontier', '');
-- 1.1's triggers counted every lead already queued: rounds count from the last
-- outbox id drawn, with no lead insert in flight (they wait for the upgrade).
lock table prospectpro.enhanced_leads in share row exclusive mode;
insert into prospectpro.lead_count_frontier (frontier)
select case when s.is_called then s.last_value else 0 end
from prospectpro.outbox_id_seq as s;

-- Milestones moved into the rounds (prospectpro._campaign_pass).
drop function prospectpro._lead_progress(bigint[], boolean[], integer[], integer[]);
