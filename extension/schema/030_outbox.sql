-- The durable outbox: events written in the caller's transaction, delivered
-- by rounds of prospectpro.deliver_due(), every attempt recorded.

-- The list of webhook types, for every query that needs it (the domain's check
-- guards a single value without a lookup). tests/python/test_contracts.py holds
-- both to the payload contracts, plpython/prospectpro_pl/contracts/*.json.
create table prospectpro.webhook_types (
    webhook_type prospectpro.webhook_type primary key
);
insert into prospectpro.webhook_types (webhook_type)
values ('lead_enrichment'), ('cost_alert'), ('campaign_lifecycle');
comment on table prospectpro.webhook_types is
'The webhook types, one row each: lead_enrichment, cost_alert, campaign_lifecycle.';

create table prospectpro.endpoints (
    webhook_type prospectpro.webhook_type primary key
    references prospectpro.webhook_types,
    url text
    constraint endpoint_url_http check (
        url ~ '^https?://[^\s]+$' and pg_catalog.length(url) <= 2048
    ),
    -- A header value: visible ASCII only, so no CR/LF can smuggle a header in.
    token text
    constraint endpoint_token_header_safe check (
        token ~ '^[!-~]+$' and pg_catalog.length(token) <= 4096
    ),
    -- Standard Webhooks: whsec_ and the base64 of the key.
    signing_secret text
    constraint endpoint_signing_secret_whsec check (
        signing_secret ~ '^whsec_([A-Za-z0-9+/]{4}){4,128}([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$'
    ),
    enabled boolean not null default true,
    retry_schedule double precision[] not null default '{1,2,4,8,16}'
    constraint endpoint_retry_schedule_valid check (
        pg_catalog.cardinality(retry_schedule) between 0 and 20
        and coalesce(pg_catalog.array_ndims(retry_schedule), 1) = 1
        and pg_catalog.array_position(retry_schedule, null) is null
        and 0 <= all(retry_schedule)
        and 86400 >= all(retry_schedule)
    ),
    jitter double precision not null default 0.1
    constraint endpoint_jitter_fraction check (jitter between 0 and 1),
    timeout_ms integer not null default 10000
    constraint endpoint_timeout_range check (timeout_ms between 100 and 60000),
    max_connections integer not null default 16
    constraint endpoint_max_connections_range check (
        max_connections between 1 and 256
    ),
    breaker_threshold integer not null default 10
    constraint endpoint_breaker_threshold_range check (
        breaker_threshold between 1 and 10000
    ),
    probe_interval double precision not null default 30
    constraint endpoint_probe_interval_range check (
        probe_interval between 0.1 and 86400
    ),
    updated_at timestamptz not null default pg_catalog.now(),
    -- The CAs trusted for an https URL, a PEM file the server reads; null:
    -- the system's store. Last, where release 1.1 added it.
    ca_file text
    constraint endpoint_ca_file_absolute check (
        ca_file ~ '^/' and pg_catalog.length(ca_file) <= 4096
    )
);
comment on table prospectpro.endpoints is
'Where each webhook type is delivered, with its secrets: readable by the owner and prospectpro_admin only.';

-- The circuit breaker of each endpoint. Operational state, not user data: it
-- is not dumped, and a restored database starts with every breaker closed.
create table prospectpro.endpoint_health (
    webhook_type prospectpro.webhook_type primary key
    references prospectpro.webhook_types,
    state text not null default 'closed'
    constraint endpoint_health_state_known check (
        state in ('closed', 'open', 'disabled')
    ),
    consecutive_failures integer not null default 0,
    next_probe_at timestamptz,
    reason text,
    updated_at timestamptz not null default pg_catalog.now(),
    -- While open: since when (its probes back off with the time open).
    opened_at timestamptz
);
insert into prospectpro.endpoint_health (webhook_type)
select t.webhook_type from prospectpro.webhook_types as t;
comment on table prospectpro.endpoint_health is
'Circuit breaker per endpoint: closed (delivering), open (after breaker_threshold consecutive failures: probes 1 s after opening, then after a fifteenth of the time open, up to probe_interval), disabled (the endpoint answered 410 Gone: until prospectpro.enable_endpoint()).';

-- The outbox and the attempt log are partitioned by time (created_at), so
-- that retention drops whole partitions instead of deleting row by row, and
-- what looks at recent history reads recent partitions. The range partitions
-- are made ahead of need by prospectpro.maintain_partitions() and are not
-- extension members (pg_dump keeps them with their rows); the default
-- partition catches a row no range partition covers, so no insert ever fails
-- for want of one, and it keeps the pending and dead events of a partition
-- that retention drops. Indexes are each partition's own, made by
-- prospectpro._index_partition(): pg_dump restores a non-member partition with
-- the indexes it lists for it, not with copies of an extension table's.
create table prospectpro.outbox (
    id bigint generated by default as identity,
    -- Random UUIDs do not collide; a unique index on them would double the
    -- cost of queueing events (random inserts all over a B-tree).
    webhook_id uuid not null default pg_catalog.gen_random_uuid(),
    webhook_type prospectpro.webhook_type not null,
    payload jsonb not null,
    ordering_key text,
    status text not null default 'pending'
    constraint outbox_status_known check (
        status in ('pending', 'delivered', 'dead')
    ),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default pg_catalog.now(),
    created_at timestamptz not null default pg_catalog.now(),
    delivered_at timestamptz,
    last_error text
) partition by range (created_at);
create table prospectpro.outbox_default partition of prospectpro.outbox default;
comment on table prospectpro.outbox is
'Webhook events, written in the transaction that caused them; pending until delivered or dead. Partitioned by created_at (see prospectpro.history_partitions).';

-- Whether a worker sleeps and wants a NOTIFY. A NOTIFY serialises the commits
-- of every notifying transaction, so writers send one only to wake a worker.
create table prospectpro.delivery_wakeup (
    id boolean primary key default true
    constraint delivery_wakeup_one_row check (id),
    armed boolean not null default false
);
insert into prospectpro.delivery_wakeup default values;
comment on table prospectpro.delivery_wakeup is
'One row: armed while a delivery worker sleeps; the next transaction that queues events disarms it and sends the NOTIFY.';

create table prospectpro.delivery_attempts (
    id bigint generated by default as identity,
    -- The outbox event, while retention keeps it (no foreign key: a
    -- partitioned outbox is dropped by partition, never row by row).
    event_id bigint not null,
    webhook_id uuid not null,
    webhook_type prospectpro.webhook_type not null,
    attempt integer not null,
    status text not null
    constraint attempt_status_known check (status in ('success', 'failed')),
    http_status integer,
    error text,
    latency_ms double precision not null,
    response_excerpt text,
    created_at timestamptz not null default pg_catalog.now()
) partition by range (created_at);
create table prospectpro.delivery_attempts_default
partition of prospectpro.delivery_attempts default;
comment on table prospectpro.delivery_attempts is
'Every delivery attempt of every event: the data behind the webhook_logs view. Partitioned by created_at.';

-- Totals that only ever grow, whatever retention drops: what /metrics and the
-- success-rate and latency views read. Each delivery round adds its own
-- figures with one upsert per webhook type, into its backend's slot, so
-- concurrent rounds never wait on one row; readers sum the slots.
create table prospectpro.delivery_counters (
    webhook_type prospectpro.webhook_type not null
    references prospectpro.webhook_types,
    slot smallint not null,
    succeeded bigint not null default 0,
    failed bigint not null default 0,
    latency_seconds_sum double precision not null default 0,
    -- Attempts per latency bucket (not cumulative), one element per upper
    -- bound of prospectpro.latency_buckets(), then the ones above the last.
    latency_buckets bigint[] not null,
    primary key (webhook_type, slot)
);
comment on table prospectpro.delivery_counters is
'Monotonic delivery totals per webhook type, spread over slots (sum them, as '
'prospectpro.webhook_success_rates and prospectpro.delivery_latency do): attempts by outcome, '
'latency sum and histogram. Retention never lowers them.';

-- How the time-partitioned tables (outbox, delivery_attempts,
-- applied_deliveries) are cut. One row; set with prospectpro.configure_partitions().
create table prospectpro.partition_settings (
    id boolean primary key default true
    constraint partition_settings_one_row check (id),
    partition_interval interval not null default '1 day'
    constraint partition_interval_range check (
        partition_interval between interval '1 minute' and interval '7 days'
        and extract(month from partition_interval) = 0
        and extract(year from partition_interval) = 0
    ),
    partitions_ahead integer not null default 3
    constraint partitions_ahead_range check (partitions_ahead between 1 and 1000)
);
comment on table prospectpro.partition_settings is
'How the outbox, the attempt log and the idempotency records are partitioned: by created_at '
'(applied_at) in partitions of partition_interval, partitions_ahead of them made ahead of need. '
'No row: the defaults, 1 day and 3.';

-- pg_dump keeps the rows of extension tables only when they are registered.
select pg_catalog.pg_extension_config_dump('prospectpro.campaigns', '');
select pg_catalog.pg_extension_config_dump('prospectpro.campaigns_id_seq', '');
select pg_catalog.pg_extension_config_dump('prospectpro.enhanced_leads', '');
select pg_catalog.pg_extension_config_dump('prospectpro.enhanced_leads_id_seq', '');
select pg_catalog.pg_extension_config_dump('prospectpro.api_costs', '');
select pg_catalog.pg_extension_config_dump('prospectpro.api_costs_id_seq', '');
select pg_catalog.pg_extension_config_dump('prospectpro.endpoints', '');
select pg_catalog.pg_extension_config_dump('prospectpro.outbox_default', '');
select pg_catalog.pg_extension_config_dump('prospectpro.outbox_id_seq', '');
select pg_catalog.pg_extension_config_dump('prospectpro.delivery_attempts_default', '');
select pg_catalog.pg_extension_config_dump('prospectpro.delivery_counters', '');
select pg_catalog.pg_extension_config_dump('prospectpro.partition_settings', '');
select pg_catalog.pg_extension_config_dump(
    'prospectpro.delivery_attempts_id_seq', ''
);
