-- What the enrichment pipeline needs besides the leads: tunable settings and
-- the record of applied deliveries that makes apply_enrichment idempotent.

create table prospectpro.settings (
    name text primary key
    constraint setting_name_known check (
        name in ('scoring.weights', 'scoring.threshold')
    ),
    value jsonb not null,
    updated_at timestamptz not null default pg_catalog.now()
);
comment on table prospectpro.settings is
'Overrides of built-in defaults (scoring weights and threshold); a missing row means the default.';

-- Partitioned by time like the outbox (see 030_outbox.sql): a webhook-id is
-- unique across partitions because apply_enrichment claims it only after
-- locking its lead, and looks in every partition.
create table prospectpro.applied_deliveries (
    webhook_id uuid not null,
    lead_id bigint not null,
    stage text not null,
    applied boolean not null,
    applied_at timestamptz not null default pg_catalog.now()
) partition by range (applied_at);
create table prospectpro.applied_deliveries_default
partition of prospectpro.applied_deliveries default;
comment on table prospectpro.applied_deliveries is
'Every webhook-id apply_enrichment has seen: a redelivered event changes nothing. Partitioned by applied_at.';

select pg_catalog.pg_extension_config_dump('prospectpro.settings', '');
select pg_catalog.pg_extension_config_dump('prospectpro.applied_deliveries_default', '');
