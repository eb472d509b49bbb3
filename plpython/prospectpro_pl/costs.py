"""Cost monitoring in the database: running aggregates, threshold rules, alerts.

Every statement that inserts into prospectpro.api_costs is evaluated by one
call of on_insert() (a statement-level trigger with a transition table):

1. Its rows are added to running sums, prospectpro.cost_window_slots (read
   summed as cost_windows), by one
   INSERT ... ON CONFLICT DO UPDATE ... RETURNING: per scope (global, and the
   row's campaign), per UTC window (minute, hour, day, and the all-time total)
   and per API (all APIs, and the row's own). A row's created_at (by default
   the transaction time) places it. The rules read these sums and
   campaign_lead_counts, never api_costs, so evaluating a statement costs the same
   whatever the size of the history.
2. The rules compare each window the statement touched with its threshold. A
   value that exceeds it (is greater: at the threshold is no alert) is at
   escalation level 0, and each doubling of the excess is one level more
   (anomaly.escalation_level), so an alert's threshold_exceeded_by is > 0.
3. A level higher than any already alerted for the same (type, scope, period)
   becomes a row of prospectpro.cost_alerts and a cost_alert event in the
   outbox, in the same transaction.

The rules. Thresholds come from prospectpro.cost_thresholds, where a
campaign's or an API's row wins over the global row, which wins over DEFAULTS:

daily_spend       spend of a UTC day > 50 USD: globally, and for each campaign
                  with its own daily_spend threshold. Period: the day.
cost_per_lead     a campaign's all-time spend / its leads (campaign_lead_counts
                  .total_leads: every lead of the campaign, whatever its stage)
                  > 0.25 USD, for every campaign with a lead. Period: the UTC
                  day of the cost, so a campaign still over it is reported
                  again, once, the next day.
rate_limit        requests (sum of request_count) of one API in a UTC minute
                  > 100, or the API's own limit. Period: the minute.
spending_anomaly  spend of a UTC hour against the last N (24) earlier hours
                  that had costs, by the configured detector (see anomaly.py):
                  median_mad, the default, or mean_ratio, the classic rule
                  (spend > 3 x their mean); the threshold value is the factor.
The budget guard is no alert: a campaign whose spend reaches (>=) its
budget_limit is paused (campaigns.guard_budgets).
                  Globally, and for each campaign with its own threshold.
                  Hours without costs are no windows, so the first hour of a
                  pipeline idle overnight is compared with its busy hours.
                  Period: the hour.

Concurrency: each window is spread over 16 slots (cost_window_slots, by
backend; cost_windows is their sum), so concurrent statements add to their
own rows instead of queueing on the global windows, which every cost
touches. A statement judges a window by its own slot plus the other slots as
committed when it began: two concurrent statements that cross a threshold
only together are both judged under it, and the next statement adding to
that window raises the alert (none does if the window ends first), as the
budget guard pauses a campaign with its next cost. Two that each cross it
race to create the same alert: the unique index behind ON CONFLICT DO
NOTHING keeps one. The upsert locks its slot's rows in key order, so
statements never deadlock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import anomaly, campaigns, payloads, plans

DEFAULTS = {
    "daily_spend": Decimal(50),
    "cost_per_lead": Decimal("0.25"),
    "rate_limit": Decimal(100),
    "spending_anomaly": Decimal(str(anomaly.DEFAULT_FACTOR)),
}
# A campaign is watched by these rules only with its own threshold: the global
# rule already counts every campaign's spend.
OPT_IN = ("daily_spend", "spending_anomaly")
DEFAULT_HISTORY_WINDOWS = 24
MAX_HISTORY_WINDOWS = 24 * 31
MAX_VALUE = Decimal(10) ** 12
API_NAME = re.compile(r"^[a-z0-9_.-]{1,64}$")
# The statuses an alert may reach each status from.
TRANSITIONS = {"acknowledged": ("open",), "resolved": ("open", "acknowledged")}

THRESHOLD_HINT = (
    "alert_type is daily_spend (USD per UTC day), cost_per_lead (USD per lead), "
    "rate_limit (requests per minute, whole) or spending_anomaly (factor over the usual "
    "hourly spend); value is positive, or null to remove the override."
)

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


def _bad_argument(plpy, message: str, hint: str) -> None:
    plpy.error(message, hint=hint, sqlstate="22023")


@dataclass(frozen=True)
class Window:
    """A window a statement changed, as UPSERT_SQL returns it: its sums over every slot
    (this statement's slot, and the others as committed when the statement began)."""

    scope: str
    kind: str
    window_start: str
    api_name: str
    spend: Decimal
    requests: int
    period: str | None
    period_start: str | None
    period_end: str | None

    @property
    def campaign_id(self) -> int | None:
        prefix, _, number = self.scope.partition(":")
        return int(number) if prefix == "campaign" else None


@dataclass(frozen=True)
class Candidate:
    """A rule's verdict: this value is at this level of this threshold."""

    alert_type: str
    scope: str
    period: str
    period_start: str
    period_end: str
    level: int
    threshold: Decimal
    current: Decimal
    window: Window  # where its top APIs and contributing campaigns are read


class Thresholds:
    """The thresholds in force, from cost_thresholds rows over DEFAULTS."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self._rows = {(r["alert_type"], r["campaign_id"], r["api_name"]): r["value"] for r in rows}

    def value(
        self, alert_type: str, campaign_id: int | None = None, api_name: str | None = None
    ) -> Decimal | None:
        """The threshold of a rule for a scope; None when the rule does not watch it."""
        own = self._rows.get((alert_type, campaign_id, api_name))
        if own is not None:
            return own
        if campaign_id is not None and alert_type in OPT_IN:
            return None
        return self._rows.get((alert_type, None, None), DEFAULTS[alert_type])


def severity(level: int) -> str:
    return "warning" if level == 0 else "critical"


def _candidate(
    alert_type: str,
    scope: str,
    window: Window,
    threshold: Decimal,
    current: Decimal,
    period_of: Window | None = None,
) -> Candidate | None:
    # A zero threshold (a mean_ratio baseline of free calls) escalates by the cent.
    unit = threshold if threshold > 0 else Decimal("0.01")
    level = anomaly.escalation_level(threshold, current, unit)
    if level is None:
        return None
    period = period_of or window
    return Candidate(
        alert_type,
        scope,
        period.period,
        period.period_start,
        period.period_end,
        level,
        threshold,
        current,
        window,
    )


def evaluate(
    windows: list[Window],
    thresholds: Thresholds,
    leads: Mapping[int, int],
    histories: Mapping[tuple[str, str], list[Decimal]],
    detector: str,
) -> list[Candidate]:
    """Every rule's verdict on the windows one statement changed."""
    found: list[Candidate | None] = []
    days: dict[str, Window] = {}  # each scope's latest day: the period of cost_per_lead
    for w in windows:
        if w.kind == "day":
            days[w.scope] = w
            limit = thresholds.value("daily_spend", w.campaign_id)
            if limit is not None:
                found.append(_candidate("daily_spend", w.scope, w, limit, w.spend))
        elif w.kind == "minute":
            limit = thresholds.value("rate_limit", api_name=w.api_name)
            found.append(
                _candidate("rate_limit", f"api:{w.api_name}", w, limit, Decimal(w.requests))
            )
        elif w.kind == "hour" and (w.scope, w.window_start) in histories:
            factor = thresholds.value("spending_anomaly", w.campaign_id)
            history = list(reversed(histories[w.scope, w.window_start]))
            verdict = anomaly.detect(detector, w.spend, history, factor=float(factor))
            if verdict.is_anomaly:
                limit = Decimal(repr(verdict.threshold))
                found.append(_candidate("spending_anomaly", w.scope, w, limit, w.spend))
    for w in windows:
        if w.kind == "total" and leads.get(w.campaign_id):
            limit = thresholds.value("cost_per_lead", w.campaign_id)
            per_lead = w.spend / leads[w.campaign_id]
            found.append(_candidate("cost_per_lead", w.scope, w, limit, per_lead, days[w.scope]))
    return [c for c in found if c is not None]


def _windows(plpy, event: str) -> list[Window]:
    # Transition tables are new per statement: only the gathering is planned each time.
    rows = plpy.execute(GATHER_SQL.format(source=SOURCES[event]))[0]
    if rows["c"] is None:
        return []
    arrays = [rows[k] for k in "catvr"]
    return [Window(**row) for row in plans.run(plpy, KEPT_UPSERT_SQL, UPSERT_TYPES, arrays)]


def _settings(plpy) -> tuple[str, int]:
    saved = {r["name"]: json.loads(r["value"]) for r in plans.run(plpy, SETTINGS_SQL, [], [])}
    return (
        saved.get("anomaly.detector", anomaly.DEFAULT_DETECTOR),
        saved.get("anomaly.history_windows", DEFAULT_HISTORY_WINDOWS),
    )


def on_insert(plpy) -> None:
    """AFTER INSERT ON api_costs, FOR EACH STATEMENT: update the windows, raise alerts,
    then pause the campaigns whose spend reached their budget (after the alerts)."""
    plans.run(plpy, RESOLVE_SQL, [], [])
    windows = _windows(plpy, "INSERT")
    if not windows:
        return
    campaign_ids = sorted({w.campaign_id for w in windows if w.campaign_id is not None})
    thresholds = Thresholds(plans.run(plpy, THRESHOLDS_SQL, ["bigint[]"], [campaign_ids]))
    detector, history_windows = _settings(plpy)

    hours = [
        w
        for w in windows
        if w.kind == "hour" and thresholds.value("spending_anomaly", w.campaign_id) is not None
    ]
    spends = plans.run(
        plpy,
        HISTORY_SQL,
        ["text[]", "text[]", "int"],
        [[w.scope for w in hours], [w.window_start for w in hours], history_windows],
    )
    histories = {(w.scope, w.window_start): r["spends"] for w, r in zip(hours, spends, strict=True)}
    leads = {
        r["campaign_id"]: r["total_leads"]
        for r in plans.run(plpy, LEADS_SQL, ["bigint[]"], [campaign_ids])
    }
    _raise(plpy, evaluate(windows, thresholds, leads, histories, detector))
    campaigns.guard_budgets(plpy, campaign_ids)


def on_change(plpy, event: str) -> None:
    """AFTER UPDATE or DELETE ON api_costs, FOR EACH STATEMENT: keep the windows exact.

    Corrections raise no alerts: a threshold is crossed by spending, not by
    rewriting the record of it.
    """
    _windows(plpy, event)


def rebuild(plpy) -> int:
    """Recompute every window from api_costs; returns how many windows there are.

    For costs loaded with the triggers off (session_replication_role =
    replica). Writers of costs, and other rebuilds, wait meanwhile; no alert
    is raised for history. Minute and hour windows that prune() had removed
    come back until its next run.
    """
    plpy.execute("lock table prospectpro.api_costs in share row exclusive mode")
    plpy.execute("delete from prospectpro.cost_window_slots")
    plpy.execute(UPSERT_SQL.format(source=LEDGER_SQL))
    return plpy.execute("select count(*) as n from prospectpro.cost_windows")[0]["n"]


def _raise(plpy, candidates: list[Candidate]) -> None:
    """Create an alert and queue its event for each level not yet alerted."""
    if not candidates:
        return
    alerted = plans.run(
        plpy,
        LEVELS_SQL,
        ["text[]", "text[]", "text[]"],
        [
            [c.alert_type for c in candidates],
            [c.scope for c in candidates],
            [c.period for c in candidates],
        ],
    )
    fresh = [
        c
        for c, row in zip(candidates, alerted, strict=True)
        if row["level"] is None or c.level > row["level"]
    ]
    if not fresh:
        return
    rows = [
        {
            "alert_type": c.alert_type,
            "scope": c.scope,
            "period": c.period,
            "period_start": c.period_start,
            "period_end": c.period_end,
            "level": c.level,
            "severity": severity(c.level),
            "threshold_value": str(c.threshold),
            "current_value": str(c.current),
            "window_scope": c.window.scope,
            "window_kind": c.window.kind,
            "window_start": c.window.window_start,
            "window_api": "" if c.window.kind != "minute" else c.window.api_name,
        }
        for c in fresh
    ]
    created = plans.run(plpy, ALERTS_SQL, ["text"], [json.dumps(rows)])
    if not created:
        return
    texts = [
        payloads.to_json(
            payloads.cost_alert(
                a["alert_type"],
                a["threshold_value"],
                a["current_value"],
                alert_id=a["id"],
                severity=a["severity"],
                scope=a["scope"],
                period_start=a["period_start"],
                period_end=a["period_end"],
                campaign_ids=a["campaign_ids"],
                top_cost_apis=a["top_cost_apis"],
                triggered_at=a["created_at"],
            )
        )
        for a in created
    ]
    keys = [f"cost_alert:{a['alert_type']}:{a['scope']}" for a in created]
    plans.run(plpy, QUEUE_SQL, ["text[]", "text[]"], [texts, keys])


def set_threshold(
    plpy,
    alert_type: str | None,
    value: Decimal | None,
    campaign_id: int | None = None,
    api_name: str | None = None,
) -> Decimal | None:
    """Save (or, with value None, remove) a threshold; returns the value then in force."""
    if alert_type not in DEFAULTS:
        _bad_argument(plpy, f"unknown cost alert type {alert_type!r}", THRESHOLD_HINT)
    if alert_type == "rate_limit" and campaign_id is not None:
        _bad_argument(
            plpy,
            "rate limits are per API, not per campaign",
            "Use prospectpro.set_api_rate_limit(api_name, requests_per_minute), or leave "
            "campaign_id null to set the limit of every API without its own.",
        )
    if value is not None and not (value.is_finite() and 0 < value < MAX_VALUE):
        _bad_argument(plpy, f"invalid {alert_type} threshold {value}", THRESHOLD_HINT)
    if alert_type == "rate_limit" and value is not None and value != value.to_integral_value():
        _bad_argument(plpy, f"a rate limit counts whole requests, got {value}", THRESHOLD_HINT)
    if campaign_id is not None and not plans.run(
        plpy, CAMPAIGN_EXISTS_SQL, ["bigint"], [campaign_id]
    ):
        _bad_argument(
            plpy,
            f"campaign {campaign_id} does not exist",
            "See prospectpro.campaigns for the ids; null campaign_id sets the global threshold.",
        )
    key = [alert_type, campaign_id, api_name]
    if value is None:
        plans.run(plpy, REMOVE_THRESHOLD_SQL, ["text", "bigint", "text"], key)
    else:
        plans.run(plpy, SAVE_THRESHOLD_SQL, ["text", "bigint", "text", "numeric"], [*key, value])
    in_force = Thresholds(plans.run(plpy, THRESHOLDS_SQL, ["bigint[]"], [[campaign_id]]))
    return in_force.value(alert_type, campaign_id, api_name)


def set_rate_limit(plpy, api_name: str | None, requests_per_minute: int | None) -> int:
    """Save (or, with None, remove) one API's rate limit; returns the limit then in force."""
    if api_name is None or not API_NAME.match(api_name):
        _bad_argument(
            plpy,
            f"invalid api_name {api_name!r}",
            "Use the api_name of prospectpro.api_costs, e.g. hunter_email_verifier "
            "(1-64 of a-z, 0-9, _ . -).",
        )
    value = None if requests_per_minute is None else Decimal(requests_per_minute)
    return int(set_threshold(plpy, "rate_limit", value, api_name=api_name))


def configure_anomaly(plpy, detector: str | None, history_windows: int | None) -> str:
    """Choose the anomaly detector and how many earlier hours it reads; returns both as JSON."""
    if detector is not None and detector not in anomaly.DETECTORS:
        _bad_argument(
            plpy,
            f"unknown anomaly detector {detector!r}",
            f"Use {' or '.join(anomaly.DETECTORS)}.",
        )
    if history_windows is not None and not (
        anomaly.DEFAULT_MIN_HISTORY <= history_windows <= MAX_HISTORY_WINDOWS
    ):
        _bad_argument(
            plpy,
            f"history_windows must be {anomaly.DEFAULT_MIN_HISTORY} to {MAX_HISTORY_WINDOWS}, "
            f"got {history_windows}",
            "It is the number of earlier hours with costs that the current hour is compared with.",
        )
    for name, value in (
        ("anomaly.detector", detector),
        ("anomaly.history_windows", history_windows),
    ):
        if value is not None:
            plans.run(plpy, SAVE_SETTING_SQL, ["text", "text"], [name, json.dumps(value)])
    detector_now, windows_now = _settings(plpy)
    return json.dumps({"detector": detector_now, "history_windows": windows_now})


def transition(plpy, alert_id: int | None, status: str, note: str | None) -> None:
    """Move an alert to acknowledged or resolved, if its current status allows it."""
    found = plans.run(plpy, LOCK_ALERT_SQL, ["bigint"], [alert_id])
    if not found:
        plpy.error(
            f"cost alert {alert_id} does not exist",
            hint="See prospectpro.cost_alert_history for the ids.",
            sqlstate="P0002",
        )
    current = found[0]["status"]
    if current not in TRANSITIONS[status]:
        plpy.error(
            f"cost alert {alert_id} is {current}: it cannot become {status}",
            hint="An open alert may be acknowledged or resolved, an acknowledged one resolved; "
            "resolved is final.",
            sqlstate="55000",
        )
    plans.run(plpy, TRANSITION_SQL[status], ["bigint", "text"], [alert_id, note])
