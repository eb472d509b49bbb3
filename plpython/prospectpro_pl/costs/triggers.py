"""The api_costs triggers: running aggregates, the rules' verdicts as alerts.

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
2. The rules (rules.py) compare each window the statement touched with its
   threshold and give each crossing its escalation level.
3. A level higher than any already alerted for the same (type, scope, period)
   becomes a row of prospectpro.cost_alerts and a cost_alert event in the
   outbox, in the same transaction.
4. The budget guard pauses the campaigns whose spend reached their budget
   (campaigns.guard_budgets), after the alerts.

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

from .. import anomaly, campaigns, payloads, plans
from .rules import Candidate, Thresholds, Window, evaluate, severity
from .sql import (
    ALERTS_SQL,
    GATHER_SQL,
    HISTORY_SQL,
    KEPT_UPSERT_SQL,
    LEADS_SQL,
    LEDGER_SQL,
    LEVELS_SQL,
    QUEUE_SQL,
    RESOLVE_SQL,
    SETTINGS_SQL,
    SOURCES,
    THRESHOLDS_SQL,
    UPSERT_SQL,
    UPSERT_TYPES,
)

DEFAULT_HISTORY_WINDOWS = 24


def _windows(plpy, event: str) -> list[Window]:
    # Transition tables are new per statement: only the gathering is planned each time.
    rows = plpy.execute(GATHER_SQL.format(source=SOURCES[event]))[0]
    if rows["c"] is None:
        return []
    arrays = [rows[k] for k in "catvr"]
    return [Window(**row) for row in plans.run(plpy, KEPT_UPSERT_SQL, UPSERT_TYPES, arrays)]


def read_settings(plpy) -> tuple[str, int]:
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
    detector, history_windows = read_settings(plpy)

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
