-- Least privilege. Functions are executable by PUBLIC unless revoked, so every
-- function is revoked first and granted to the roles that need it.

revoke all on all tables in schema prospectpro from public;
revoke all on all functions in schema prospectpro from public;
revoke all on procedure prospectpro.run_delivery(double precision, integer) from public;

grant select on
prospectpro.campaigns, prospectpro.enhanced_leads, prospectpro.api_costs,
prospectpro.outbox, prospectpro.webhook_logs
to prospectpro_reader;

grant select, insert, update, delete on
prospectpro.campaigns, prospectpro.enhanced_leads, prospectpro.api_costs
to prospectpro_writer;

grant execute on function
prospectpro.deliver_due(integer), prospectpro.next_due_in(), prospectpro.arm_wakeup(),
prospectpro.disarm_wakeup(), prospectpro.delivery_round_costs(),
prospectpro.delivery_deadline(double precision),
prospectpro.delivery_pause(timestamptz, integer, integer)
to prospectpro_worker;
grant execute on procedure prospectpro.run_delivery(double precision, integer)
to prospectpro_worker;

-- Secrets live in prospectpro.endpoints: only the owner and admins read it.
grant select, insert, update, delete on prospectpro.endpoints to prospectpro_admin;
grant execute on function
prospectpro.configure_endpoint(
    text, text, text, text, boolean, double precision[], integer, double precision, integer,
    integer, double precision, text
),
prospectpro.enable_endpoint(text),
prospectpro.redeliver(bigint),
prospectpro.redeliver(text, timestamptz),
prospectpro.schedule_delivery(text)
to prospectpro_admin;

grant select on prospectpro.settings, prospectpro.applied_deliveries to prospectpro_reader;
grant execute on function
prospectpro.apply_enrichment(uuid, bigint, text, jsonb, jsonb, text),
prospectpro.apply_enrichment_batch(jsonb)
to prospectpro_writer;
grant execute on function prospectpro.configure_scoring(jsonb, integer)
to prospectpro_admin;

grant select on
prospectpro.campaign_stats, prospectpro.campaign_lead_counts, prospectpro.campaign_exports,
prospectpro.campaign_transitions, prospectpro.campaign_lifecycle_events,
prospectpro.campaign_lifecycle_log,
prospectpro.campaign_lifecycle_dashboard
to prospectpro_reader;
grant execute on function prospectpro.set_campaign_status(bigint, text, text)
to prospectpro_writer;

-- Cost monitoring: the api_costs triggers write the aggregates and alerts as
-- the owner; operators read them and manage thresholds and alerts.
grant select on
prospectpro.cost_thresholds, prospectpro.cost_settings, prospectpro.cost_windows,
prospectpro.cost_alerts, prospectpro.cost_alert_history
to prospectpro_reader;
grant execute on function
prospectpro.set_cost_threshold(text, numeric, bigint),
prospectpro.set_api_rate_limit(text, integer),
prospectpro.configure_anomaly_detection(text, integer),
prospectpro.acknowledge_alert(bigint, text),
prospectpro.resolve_alert(bigint, text),
prospectpro.resolve_expired_alerts(),
prospectpro.rebuild_cost_windows()
to prospectpro_admin;

grant select on
prospectpro.webhook_success_rates, prospectpro.delivery_queue,
prospectpro.delivery_latency, prospectpro.endpoint_status
to prospectpro_reader;
-- endpoint_status checks the URL of the database-setting fallback with these.
grant execute on function
prospectpro.endpoint_url_problem(text), prospectpro.endpoint_setting_url(text)
to prospectpro_reader;
-- delivery_latency reads its buckets' bounds from this.
grant execute on function prospectpro.latency_buckets() to prospectpro_reader;

revoke all on procedure prospectpro.prune(interval, integer) from public;
grant execute on procedure prospectpro.prune(interval, integer) to prospectpro_admin;
-- prune's steps: the DDL and the deletes are the owner's (security definer).
grant execute on function
prospectpro.retention_cutoff(interval, integer),
prospectpro.expired_partitions(timestamptz),
prospectpro.drop_expired_partition(text, timestamptz),
prospectpro.prune_default_batch(timestamptz, integer),
prospectpro.prune_cost_windows(timestamptz),
prospectpro.configure_partitions(interval, integer)
to prospectpro_admin;
-- Partitions are made ahead by prune and by the worker.
grant execute on function prospectpro.maintain_partitions()
to prospectpro_admin, prospectpro_worker;
grant select on prospectpro.history_partitions, prospectpro.delivery_counters
to prospectpro_reader;
grant execute on function
prospectpro.discard(bigint), prospectpro.schedule_maintenance(interval, text)
to prospectpro_admin;

-- The dashboard's figures come from these helpers (security invoker).
grant execute on function
prospectpro.campaign_spend(bigint), prospectpro.campaign_lead_total(bigint)
to prospectpro_reader;
