"""The SQL text of cost monitoring: what the triggers and the admin functions run.

Plans are kept per session by prospectpro_pl.plans; the window upsert is also
run as text by the rebuild, over the whole ledger.
"""

# Each cost row counts in up to 16 windows: scope (global, its campaign) x
# kind (minute, hour, day, total) x API (all, its own). A statement adds to
# its backend's slot of each, upserted in key order, so two statements of the
# same slot lock them in the same order.
UPSERT_SQL = """
with delta (campaign_id, api_name, created_at, cost, request_count) as ({source}),
parts as (
    select s.scope, k.kind, a.api_name, d.cost, d.request_count,
           case k.kind when 'total' then '-infinity'::timestamptz
               else pg_catalog.date_trunc(k.kind, d.created_at, 'UTC') end as window_start
    from delta as d
    cross join lateral (values ('global'), ('campaign:' || d.campaign_id)) as s (scope)
    cross join (values ('minute'), ('hour'), ('day'), ('total')) as k (kind)
    cross join lateral (values (''), (d.api_name)) as a (api_name)
    where s.scope is not null
),
upserted as (
    insert into prospectpro.cost_window_slots as w
        (scope, kind, window_start, api_name, slot, spend, requests)
    select p.scope, p.kind, p.window_start, p.api_name,
           (pg_catalog.pg_backend_pid() % 16)::smallint, sum(p.cost), sum(p.request_count)
    from parts as p
    group by p.scope, p.kind, p.window_start, p.api_name
    having sum(p.cost) <> 0 or sum(p.request_count) <> 0
    order by p.scope, p.kind, p.window_start, p.api_name
    on conflict (scope, kind, window_start, api_name, slot) do update
    set spend = w.spend + excluded.spend, requests = w.requests + excluded.requests
    returning w.scope, w.kind, w.window_start, w.api_name, w.slot, w.spend, w.requests
),
-- This slot's new sums plus the other slots' as this statement's snapshot saw them.
totals as (
    select u.scope, u.kind, u.window_start, u.api_name,
           u.spend + coalesce(o.spend, 0) as spend, u.requests + coalesce(o.requests, 0) as requests
    from upserted as u
    left join lateral (
        select sum(x.spend) as spend, sum(x.requests) as requests
        from prospectpro.cost_window_slots as x
        where x.scope = u.scope and x.kind = u.kind and x.window_start = u.window_start
          and x.api_name = u.api_name and x.slot <> u.slot
    ) as o on true
)
select u.scope, u.kind, u.window_start, u.api_name, u.spend, u.requests,
       case u.kind
           when 'total' then null
           when 'day' then pg_catalog.to_char(u.window_start at time zone 'UTC', 'YYYY-MM-DD')
           else pg_catalog.to_char(u.window_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"')
       end as period,
       case when u.kind <> 'total' then u.window_start end as period_start,
       case when u.kind <> 'total'
           then u.window_start + ('1 ' || u.kind)::interval end as period_end
from totals as u
where (u.api_name = '' and u.kind <> 'minute')
   or (u.scope = 'global' and u.kind = 'minute' and u.api_name <> '')
order by u.scope, u.kind, u.window_start, u.api_name
"""
# The trigger's upsert is a kept plan: a statement's rows reach it as arrays,
# which one small query per statement (GATHER_SQL over SOURCES, on the
# transition tables) gathers.
KEPT_UPSERT_SQL = UPSERT_SQL.format(
    source="select * from unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::numeric[],"
    " $5::bigint[])"
)
UPSERT_TYPES = ["bigint[]", "text[]", "timestamptz[]", "numeric[]", "bigint[]"]
LEDGER_SQL = (
    "select campaign_id, api_name, created_at, cost, request_count from prospectpro.api_costs"
)
GATHER_SQL = """
select array_agg(d.c) as c, array_agg(d.a) as a, array_agg(d.t) as t, array_agg(d.v) as v,
       array_agg(d.r) as r
from ({source}) as d (c, a, t, v, r)
"""
# What each statement adds to the windows: an insert its rows, a delete minus
# its rows, an update minus the old and plus the new version of changed rows.
SOURCES = {
    "INSERT": "select campaign_id, api_name, created_at, cost, request_count from new_rows",
    "DELETE": "select campaign_id, api_name, created_at, -cost, -request_count from old_rows",
    "UPDATE": """
        select d.* from old_rows as o
        join new_rows as n on o.id = n.id
        cross join lateral (values
            (o.campaign_id, o.api_name, o.created_at, -o.cost, -o.request_count),
            (n.campaign_id, n.api_name, n.created_at, n.cost, n.request_count)) as d
        where (o.campaign_id, o.api_name, o.created_at, o.cost, o.request_count)
            is distinct from (n.campaign_id, n.api_name, n.created_at, n.cost, n.request_count)
    """,
}

RESOLVE_SQL = "select prospectpro.resolve_expired_alerts()"
THRESHOLDS_SQL = """
select alert_type, campaign_id, api_name, value from prospectpro.cost_thresholds
where campaign_id is null or campaign_id = any($1)
"""
SETTINGS_SQL = "select name, value::text from prospectpro.cost_settings"
LEADS_SQL = """
select c.id as campaign_id, prospectpro.campaign_lead_total(c.id) as total_leads
from unnest($1::bigint[]) as c (id)
"""
# The spends of the earlier hours of each window's scope, newest first; the
# primary key is walked backwards from the window, so history is never scanned.
HISTORY_SQL = """
select array(
    select sum(h.spend) from prospectpro.cost_window_slots as h
    where h.scope = t.scope and h.kind = 'hour' and h.api_name = ''
      and h.window_start < t.window_start
    group by h.window_start
    having sum(h.requests) > 0
    order by h.window_start desc
    limit $3
) as spends
from unnest($1::text[], $2::timestamptz[]) with ordinality as t (scope, window_start, n)
order by t.n
"""
LEVELS_SQL = """
select (
    select max(a.level) from prospectpro.cost_alerts as a
    where a.alert_type = c.alert_type and a.scope = c.scope and a.period = c.period
) as level
from unnest($1::text[], $2::text[], $3::text[]) with ordinality as c (alert_type, scope, period, n)
order by c.n
"""
# Creates the alerts (a concurrent twin makes ON CONFLICT skip one) and reads
# each one's top APIs and campaigns from the window it was raised on.
ALERTS_SQL = """
with c as (
    select * from pg_catalog.jsonb_to_recordset($1::jsonb) as c (
        alert_type text, scope text, period text, period_start timestamptz,
        period_end timestamptz, level integer,
        severity text, threshold_value numeric, current_value numeric,
        window_scope text, window_kind text, window_start timestamptz, window_api text
    )
),
created as (
    insert into prospectpro.cost_alerts as a (
        alert_type, scope, period, period_end, level, severity, threshold_value, current_value
    )
    select c.alert_type, c.scope, c.period, c.period_end, c.level, c.severity,
           c.threshold_value, c.current_value
    from c
    order by c.alert_type, c.scope, c.period, c.level
    on conflict (alert_type, scope, period, level) do nothing
    returning a.id, a.alert_type, a.scope, a.period, a.level, a.severity,
              a.threshold_value, a.current_value, a.created_at
)
select n.id, n.alert_type, n.scope, n.period, n.severity, n.threshold_value, n.current_value,
       pg_catalog.to_json(n.created_at) #>> '{}' as created_at,  -- ISO 8601 whatever DateStyle
       pg_catalog.to_json(c.period_start) #>> '{}' as period_start,
       pg_catalog.to_json(c.period_end) #>> '{}' as period_end,
       array(
           select w.api_name from prospectpro.cost_window_slots as w
           where w.scope = c.window_scope and w.kind = c.window_kind
             and w.window_start = c.window_start and w.api_name <> ''
           group by w.api_name
           order by sum(w.spend) desc, w.api_name
           limit 3
       ) as top_cost_apis,
       case when n.scope like 'campaign:%' then array[substr(n.scope, 10)::bigint]
       else array(
           select substr(w.scope, 10)::bigint as campaign_id
           from prospectpro.cost_window_slots as w
           where w.kind = c.window_kind and w.window_start = c.window_start
             and w.api_name = c.window_api
             and w.scope >= 'campaign:' and w.scope < 'campaign;'
           group by w.scope
           order by campaign_id
           limit 1000
       ) end as campaign_ids
from created as n
join c on (c.alert_type, c.scope, c.period, c.level) = (n.alert_type, n.scope, n.period, n.level)
order by n.id
"""
# Escalations of one (type, scope) share an ordering key: they arrive in order.
QUEUE_SQL = """
with queued as (
    insert into prospectpro.outbox (webhook_type, payload, ordering_key)
    select 'cost_alert', e.p::jsonb, e.k from unnest($1::text[], $2::text[]) as e (p, k)
    returning id, payload
)
update prospectpro.cost_alerts as a set payload = q.payload, event_id = q.id
from queued as q
where a.id = (q.payload ->> 'alert_id')::bigint
"""

CAMPAIGN_EXISTS_SQL = "select from prospectpro.campaigns where id = $1"
SAVE_THRESHOLD_SQL = """
insert into prospectpro.cost_thresholds as t (alert_type, campaign_id, api_name, value)
values ($1, $2, $3, $4)
on conflict on constraint cost_threshold_one_per_scope
do update set value = excluded.value, updated_at = pg_catalog.now()
"""
REMOVE_THRESHOLD_SQL = """
delete from prospectpro.cost_thresholds
where alert_type = $1 and campaign_id is not distinct from $2
  and api_name is not distinct from $3
"""
SAVE_SETTING_SQL = """
insert into prospectpro.cost_settings (name, value) values ($1, $2::jsonb)
on conflict (name) do update set value = excluded.value, updated_at = pg_catalog.now()
"""
LOCK_ALERT_SQL = "select status from prospectpro.cost_alerts where id = $1 for update"
TRANSITION_SQL = {
    "acknowledged": """
        update prospectpro.cost_alerts
        set status = 'acknowledged', acknowledged_at = pg_catalog.now(), acknowledgement = $2
        where id = $1
    """,
    "resolved": """
        update prospectpro.cost_alerts
        set status = 'resolved', resolved_at = pg_catalog.now(), resolution = $2
        where id = $1
    """,
}
