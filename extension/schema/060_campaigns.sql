-- Campaign lifecycle: running figures per campaign (so events and the
-- dashboard never scan all leads), and the CSV export made on completion.

create table prospectpro.campaign_transitions (
    from_status text not null,
    to_status text not null,
    lifecycle_event text not null,
    primary key (from_status, to_status)
);
comment on table prospectpro.campaign_transitions is
'The campaign state machine: every allowed status change and the lifecycle event it emits.';
insert into prospectpro.campaign_transitions (from_status, to_status, lifecycle_event)
values
('created', 'processing', 'processing_started'),
('created', 'error', 'error'),
('created', 'cancelled', 'cancelled'),
('processing', 'completed', 'completed'),
('processing', 'error', 'error'),
('processing', 'cancelled', 'cancelled'),
('processing', 'paused', 'paused'),
('paused', 'processing', 'resumed'),
('paused', 'error', 'error'),
('paused', 'cancelled', 'cancelled'),
('error', 'processing', 'processing_started'),
('error', 'cancelled', 'cancelled');

-- Progress changes when a lead finishes: one row per campaign, locked then.
create table prospectpro.campaign_stats (
    campaign_id bigint primary key
    references prospectpro.campaigns (id) on delete cascade,
    finished_leads integer not null default 0,
    qualified_leads integer not null default 0,
    last_milestone integer not null default 0
);
comment on table prospectpro.campaign_stats is
'Finished (completed or failed) and qualified leads per campaign, and the last progress milestone announced; kept by the lead triggers.';

-- Lead counts change with every insert: spread over slots (by backend) so
-- that concurrent inserts into one campaign never wait on one row.
create table prospectpro.campaign_lead_counts (
    campaign_id bigint not null
    references prospectpro.campaigns (id) on delete cascade,
    slot smallint not null,
    total_leads integer not null,
    primary key (campaign_id, slot)
);
comment on table prospectpro.campaign_lead_counts is
'Leads per campaign, as partial counts per slot: a campaign''s total is their sum.';

create table prospectpro.campaign_exports (
    campaign_id bigint primary key
    references prospectpro.campaigns (id) on delete cascade,
    csv text not null,
    row_count integer not null,
    sha256 text not null,
    created_at timestamptz not null default pg_catalog.now()
);
comment on table prospectpro.campaign_exports is
'The CSV export of each completed campaign''s qualified leads, with its row count and checksum.';

select pg_catalog.pg_extension_config_dump('prospectpro.campaign_stats', '');
select pg_catalog.pg_extension_config_dump('prospectpro.campaign_lead_counts', '');
select pg_catalog.pg_extension_config_dump('prospectpro.campaign_exports', '');
