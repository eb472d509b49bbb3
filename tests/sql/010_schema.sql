-- Schema: the extension's tables, views, functions and triggers exist with the
-- public contract's names and columns.
begin;
select plan(20);

select has_schema('prospectpro');
select is(
    (
        select extversion from pg_extension
        where extname = 'prospectpro'
    ),
    '1.2', 'extension version 1.2 is installed'
);
select tables_are(
    'prospectpro',
    array[
        'campaigns', 'enhanced_leads', 'api_costs', 'endpoints', 'outbox',
        'campaign_transitions', 'campaign_stats', 'campaign_lead_counts', 'campaign_exports',
        'campaign_lifecycle_events', 'endpoint_health', 'delivery_wakeup', 'webhook_types',
        'delivery_attempts', 'settings', 'applied_deliveries', 'lead_count_frontier',
        'cost_thresholds', 'cost_settings', 'cost_window_slots', 'cost_alerts',
        'outbox_default', 'delivery_attempts_default', 'applied_deliveries_default',
        'delivery_counters', 'partition_settings'
    ]
);
select columns_are(
    'prospectpro', 'campaigns',
    array[
        'id', 'name', 'target_count', 'budget_limit', 'status', 'created_at',
        'updated_at'
    ]
);
select columns_are(
    'prospectpro', 'enhanced_leads',
    array[
        'id', 'campaign_id', 'business_name', 'website', 'phone', 'address',
        'email', 'confidence_score', 'is_qualified', 'enrichment_stage',
        'enrichment_data', 'created_at', 'updated_at'
    ]
);
select columns_are(
    'prospectpro', 'api_costs',
    array[
        'id', 'campaign_id', 'lead_id', 'api_name', 'cost', 'request_count',
        'created_at'
    ]
);
select col_type_is('prospectpro', 'campaigns', 'id', 'bigint', 'campaign ids are bigint');
select col_type_is('prospectpro', 'enhanced_leads', 'id', 'bigint', 'lead ids are bigint');
select col_type_is(
    'prospectpro', 'enhanced_leads', 'enrichment_data', 'jsonb', 'enrichment data is jsonb'
);
select fk_ok(
    'prospectpro', 'enhanced_leads', 'campaign_id', 'prospectpro', 'campaigns', 'id'
);
select has_view('prospectpro', 'webhook_logs', 'webhook_logs view exists');
select has_view('prospectpro', 'cost_windows', 'cost_windows view exists');
select has_column('prospectpro', 'webhook_logs', 'webhook_type', 'webhook_logs.webhook_type');
select has_column('prospectpro', 'webhook_logs', 'status', 'webhook_logs.status');
select has_column('prospectpro', 'webhook_logs', 'created_at', 'webhook_logs.created_at');
select has_function(
    'prospectpro', 'deliver_due', array['integer'], 'deliver_due(integer) exists'
);
select function_returns('prospectpro', 'deliver_due', array['integer'], 'integer');
select is(
    (
        select count(*)::integer from pg_proc
        where
            pronamespace = 'prospectpro'::regnamespace
            and not coalesce(proconfig @> '{"search_path=pg_catalog, pg_temp"}', false)
            and prokind = 'f'
            -- Inlined into the capture triggers' queries, which a SET would
            -- prevent; it names pg_catalog explicitly.
            and oid <> 'prospectpro._lead_payload'::regproc
    ),
    0, 'every function pins search_path to pg_catalog, pg_temp'
);
-- The notify trigger reads the wakeup flag at commit: a deferred constraint trigger.
select is(
    (
        select array[tgconstraint <> 0, tgdeferrable, tginitdeferred] from pg_trigger
        where tgname = '_900_notify_outbox' and tgrelid = 'prospectpro.outbox'::regclass
    ),
    array[true, true, true], 'the outbox notification trigger fires at commit'
);
select is(
    (
        select array_agg(c.relname::text order by c.relname)
        from pg_extension as e, unnest(e.extconfig) as cfg (oid)
        inner join pg_class as c on cfg.oid = c.oid
        where e.extname = 'prospectpro' and c.relkind = 'r'
    ),
    -- Of the partitioned tables, the default partitions: the range partitions
    -- are not extension members, and pg_dump keeps them as any table.
    array[
        'api_costs', 'applied_deliveries_default', 'campaign_exports', 'campaign_lead_counts',
        'campaign_lifecycle_events', 'campaign_stats',
        'campaigns', 'cost_alerts', 'cost_settings', 'cost_thresholds', 'cost_window_slots',
        'delivery_attempts_default', 'delivery_counters', 'endpoints', 'enhanced_leads',
        'lead_count_frontier', 'outbox_default', 'partition_settings', 'settings'
    ]::text[],
    'every table with user data is kept by pg_dump'
);

select * from finish();
rollback;
