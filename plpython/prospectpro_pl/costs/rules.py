"""The cost rules, a pure engine: which windows one statement changed cross which
threshold, and at what escalation level. No database here: triggers.py reads the
windows, thresholds, lead counts and histories, and turns the verdicts into alerts.

A value that exceeds its threshold (is greater: at the threshold is no alert)
is at escalation level 0, and each doubling of the excess is one level more
(anomaly.escalation_level), so an alert's threshold_exceeded_by is > 0.

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
                  Globally, and for each campaign with its own threshold.
                  Hours without costs are no windows, so the first hour of a
                  pipeline idle overnight is compared with its busy hours.
                  Period: the hour.

An alert's payload names the kind of its period in time_period (daily, daily,
minute, hourly: payloads.ALERT_PERIODS) and bounds it in alert_metadata
.period_start and .period_end.

The budget guard is no alert: a campaign whose spend reaches (>=) its
budget_limit is paused (campaigns.guard_budgets).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .. import anomaly

DEFAULTS = {
    "daily_spend": Decimal(50),
    "cost_per_lead": Decimal("0.25"),
    "rate_limit": Decimal(100),
    "spending_anomaly": Decimal(str(anomaly.DEFAULT_FACTOR)),
}
# A campaign is watched by these rules only with its own threshold: the global
# rule already counts every campaign's spend.
OPT_IN = ("daily_spend", "spending_anomaly")


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
