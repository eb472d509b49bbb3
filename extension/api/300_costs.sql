-- Cost monitoring: every statement writing api_costs keeps the running
-- aggregates (cost_window_slots, read as cost_windows) exact, and an insert is checked against the cost
-- rules (daily_spend, cost_per_lead, rate_limit, spending_anomaly), raising
-- alerts and queueing cost_alert events. The rules are documented in
-- plpython/prospectpro_pl/costs/rules.py (the windows and alerts: costs/triggers.py).

create or replace view prospectpro.cost_windows as
select
    w.scope,
    w.kind,
    w.window_start,
    w.api_name,
    sum(w.spend)::numeric(18, 4) as spend,
    sum(w.requests)::bigint as requests
from prospectpro.cost_window_slots as w
group by w.scope, w.kind, w.window_start, w.api_name;
comment on view prospectpro.cost_windows is
'Running sums of api_costs per scope (global, campaign:<id>), UTC window (minute, hour, day; '
'total starts at -infinity) and API (api_name '''' is all APIs), kept by triggers on api_costs.';

-- PL/pgSQL, which keeps its plan: every cost insert calls it (a SQL function
-- with SET is neither inlined nor keeps a plan).
create or replace function prospectpro.resolve_expired_alerts()
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    resolved integer;
begin
    perform prospectpro._require_primary('resolve_expired_alerts');
    -- SKIP LOCKED: an alert being acknowledged, or resolved by a concurrent
    -- call, is left for the next call instead of being waited for.
    with expired as (
        select a.id from prospectpro.cost_alerts as a
        where a.status <> 'resolved' and a.period_end <= now()
        for update skip locked
    ),

    done as (
        update prospectpro.cost_alerts as a
        set status = 'resolved', resolved_at = now(), resolution = 'period ended'
        from expired as e
        where a.id = e.id
        returning 1
    )

    select count(*)::integer into resolved from done;
    return resolved;
end
$$;
comment on function prospectpro.resolve_expired_alerts() is
'Resolve every open or acknowledged cost alert whose period (day, hour or minute) has ended, '
'with the resolution "period ended"; returns how many. Cost inserts call it too.';

-- The cost triggers pass timestamps through Python as text: ISO output keeps
-- them exact whatever the session's DateStyle.
create or replace function prospectpro.trigger_cost_monitoring()
returns trigger
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
set datestyle = 'ISO, YMD'
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl.costs import triggers
triggers.on_insert(plpy)
$python$;
comment on function prospectpro.trigger_cost_monitoring() is
'Statement-level AFTER INSERT trigger on api_costs: adds the new costs to the running '
'aggregates, checks the cost rules, raises alerts with cost_alert events, then pauses '
'campaigns whose spend reached their budget_limit.';

create or replace function prospectpro._cost_windows_correct()
returns trigger
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
set datestyle = 'ISO, YMD'
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl.costs import triggers
triggers.on_change(plpy, TD["event"])
$python$;

create or replace function prospectpro.rebuild_cost_windows()
returns bigint
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl.costs import triggers
return triggers.rebuild(plpy)
$python$;
comment on function prospectpro.rebuild_cost_windows() is
'Recompute the running cost aggregates from api_costs, after costs were loaded with the '
'triggers off (session_replication_role = replica); returns the number of windows. '
'Cost writers wait until it commits; no alerts are raised.';

create or replace function prospectpro._cost_windows_clear()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    truncate prospectpro.cost_window_slots;
    return null;
end
$$;

create or replace trigger _500_cost_monitoring
after insert on prospectpro.api_costs
referencing new table as new_rows
for each statement execute function prospectpro.trigger_cost_monitoring();

create or replace trigger _500_cost_windows_update
after update on prospectpro.api_costs
referencing old table as old_rows new table as new_rows
for each statement execute function prospectpro._cost_windows_correct();

create or replace trigger _500_cost_windows_delete
after delete on prospectpro.api_costs
referencing old table as old_rows
for each statement execute function prospectpro._cost_windows_correct();

create or replace trigger _500_cost_windows_truncate
after truncate on prospectpro.api_costs
for each statement execute function prospectpro._cost_windows_clear();

-- PL/pgSQL, which keeps its plan: it runs for every recorded cost.
create or replace function prospectpro.campaign_spend(campaign_id bigint)
returns numeric
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return (
        select coalesce(sum(w.spend), 0) from prospectpro.cost_window_slots as w
        where
            w.scope = 'campaign:' || campaign_spend.campaign_id
            and w.kind = 'total' and w.window_start = '-infinity' and w.api_name = ''
    );
end
$$;
comment on function prospectpro.campaign_spend(bigint) is
'A campaign''s spend so far in USD (0 if none), from the running aggregates: the '
'figure its budget_limit is compared with.';

create or replace function prospectpro.set_cost_threshold(
    alert_type text,
    value numeric,
    campaign_id bigint default null
) returns numeric
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl.costs import admin
return admin.set_threshold(plpy, alert_type, value, campaign_id)
$python$;
comment on function prospectpro.set_cost_threshold(text, numeric, bigint) is
'Set the threshold of a cost rule, globally or (campaign_id) for one campaign, which then wins: '
'daily_spend USD per UTC day (default 50; per campaign only when set), cost_per_lead USD per '
'lead (0.25), rate_limit requests per minute of every API without its own limit (100), '
'spending_anomaly factor over the usual hourly spend (3; per campaign only when set). '
'A null value removes the override. Returns the threshold then in force (null: not watched).';

create or replace function prospectpro.set_api_rate_limit(
    api_name text,
    requests_per_minute integer
) returns integer
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl.costs import admin
return admin.set_rate_limit(plpy, api_name, requests_per_minute)
$python$;
comment on function prospectpro.set_api_rate_limit(text, integer) is
'Set one API''s rate limit in requests per UTC minute (null removes it, leaving the '
'rate_limit of every API); returns the limit then in force.';

create or replace function prospectpro.configure_anomaly_detection(
    detector text default null,
    history_windows integer default null
) returns jsonb
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl.costs import admin
return admin.configure_anomaly(plpy, detector, history_windows)
$python$;
comment on function prospectpro.configure_anomaly_detection(text, integer) is
'Choose the spending anomaly detector: median_mad (default; robust to past spikes) or '
'mean_ratio (the classic rule: an hour''s spend over factor x the mean of earlier hours), and '
'how many earlier hours with costs it compares with (default 24). Null keeps a setting; '
'returns both in force.';

create or replace function prospectpro.acknowledge_alert(
    alert_id bigint,
    note text default null
) returns void
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl.costs import admin
admin.transition(plpy, alert_id, "acknowledged", note)
$python$;
comment on function prospectpro.acknowledge_alert(bigint, text) is
'Acknowledge an open cost alert, with an optional note.';

create or replace function prospectpro.resolve_alert(
    alert_id bigint,
    note text default null
) returns void
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl.costs import admin
admin.transition(plpy, alert_id, "resolved", note)
$python$;
comment on function prospectpro.resolve_alert(bigint, text) is
'Resolve an open or acknowledged cost alert, with an optional resolution note.';

create or replace view prospectpro.cost_alert_history as
select
    a.id,
    a.created_at,
    a.alert_type,
    a.scope,
    a.period,
    a.level,
    a.severity,
    a.threshold_value,
    a.current_value,
    a.current_value - a.threshold_value as threshold_exceeded_by,
    a.status,
    a.acknowledged_at,
    a.acknowledgement,
    a.resolved_at,
    a.resolution,
    a.event_id,
    o.status as webhook_status
from prospectpro.cost_alerts as a
left join prospectpro.outbox as o on a.event_id = o.id;
comment on view prospectpro.cost_alert_history is
'Every cost alert with its values, status, timestamps, and the delivery status of its '
'cost_alert event.';
