"""The cost rules as a pure engine (prospectpro_pl.costs.rules): windows in, verdicts out,
no database. The triggers' end-to-end behaviour is in tests/sql/050_costs.sql."""

from decimal import Decimal

from prospectpro_pl.costs.rules import Thresholds, Window, evaluate

DAY = ("2100-01-01 00:00:00+00", "2100-01-01", "2100-01-01 00:00:00+00", "2100-01-02 00:00:00+00")


def window(scope, kind, spend="0", requests=1, api_name="", start=DAY):
    window_start, period, period_start, period_end = start
    if kind == "total":
        window_start, period, period_start, period_end = "-infinity", None, None, None
    return Window(
        scope, kind, window_start, api_name, Decimal(spend), requests, period, period_start,
        period_end,
    )  # fmt: skip


def verdicts(windows, rows=(), leads=None, histories=None):
    found = evaluate(windows, Thresholds(rows), leads or {}, histories or {}, "median_mad")
    return [(c.alert_type, c.scope, c.period, c.level, c.current) for c in found]


def test_daily_spend_alerts_a_cent_over_and_escalates_by_doubling_of_the_excess():
    assert verdicts([window("global", "day", "50.00")]) == []
    assert verdicts([window("global", "day", "50.01")]) == [
        ("daily_spend", "global", "2100-01-01", 0, Decimal("50.01"))
    ]
    assert verdicts([window("global", "day", "150.00")])[0][3] == 2  # excess 100 = 2 x 50


def test_a_campaign_is_watched_for_daily_spend_only_with_its_own_threshold():
    day = window("campaign:7", "day", "60")
    assert verdicts([day]) == []
    own = [{"alert_type": "daily_spend", "campaign_id": 7, "api_name": None, "value": Decimal(10)}]
    # excess 50 over 10: level 0 from 0, then 1 at 10, 2 at 20, 3 at 40
    assert verdicts([day], own)[0][:4] == ("daily_spend", "campaign:7", "2100-01-01", 3)


def test_cost_per_lead_is_judged_on_the_total_in_the_period_of_the_day():
    windows = [window("campaign:7", "day", "1"), window("campaign:7", "total", "3")]
    # 0.75 a lead: excess 0.50, levels at 0.25 and 0.50
    assert verdicts(windows, leads={7: 4}) == [
        ("cost_per_lead", "campaign:7", "2100-01-01", 2, Decimal("0.75"))
    ]
    assert verdicts(windows, leads={7: 12}) == []  # 0.25 a lead: at the threshold


def test_rate_limit_counts_requests_per_api_against_its_own_limit():
    minute = ("2100-01-01 10:05:00+00", "2100-01-01T10:05Z", "", "")
    hits = window("global", "minute", requests=101, api_name="hunter", start=minute)
    assert verdicts([hits]) == [("rate_limit", "api:hunter", "2100-01-01T10:05Z", 0, 101)]
    own = [{"alert_type": "rate_limit", "campaign_id": None, "api_name": "hunter", "value": 200}]
    assert verdicts([hits], own) == []
