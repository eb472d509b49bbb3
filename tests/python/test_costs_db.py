"""Cost monitoring on a real cluster: concurrent crossings, statement-level
evaluation of a bulk insert, and delivery of the alert to a loopback sink."""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
from conftest import wait_until

DAY = datetime(2100, 3, 1, tzinfo=UTC)
INSERT_SQL = """
insert into prospectpro.api_costs (campaign_id, api_name, cost, request_count, created_at)
select * from unnest(%s::bigint[], %s::text[], %s::numeric[], %s::int[], %s::timestamptz[])
"""
SEED_KEYS = {
    "alert_type",
    "threshold_value",
    "current_value",
    "threshold_exceeded_by",
    "time_period",
    "alert_metadata",
}


def campaigns(db, count: int) -> list[int]:
    rows = db.execute(
        "insert into prospectpro.campaigns (name) select 'Cost test ' || n"
        " from generate_series(1, %s) n returning id",
        (count,),
    ).fetchall()
    return [r[0] for r in rows]


def insert_costs(conn, rows) -> None:
    """One INSERT statement of (campaign_id, api_name, cost, request_count, created_at) rows."""
    conn.execute(INSERT_SQL, [list(column) for column in zip(*rows, strict=True)])


def alerts(db, alert_type: str, scope: str):
    return db.execute(
        "select period, level, current_value from prospectpro.cost_alerts"
        " where alert_type = %s and scope = %s order by period, level",
        (alert_type, scope),
    ).fetchall()


def test_concurrent_crossings_of_one_threshold_make_one_alert(db, dsn):
    (campaign,) = campaigns(db, 1)
    noon = DAY + timedelta(hours=12)
    insert_costs(db, [(campaign, "google_places", Decimal(40), 1, noon)])

    first, second = psycopg.connect(dsn), psycopg.connect(dsn)
    try:
        # Each transaction alone takes the day from 40 to 55, over 50.
        insert_costs(first, [(campaign, "google_places", Decimal(15), 1, noon)])
        failures: list[BaseException] = []

        def insert_and_commit() -> None:
            try:
                insert_costs(second, [(campaign, "hunter_email_verifier", Decimal(15), 1, noon)])
                second.commit()
            except BaseException as exc:
                failures.append(exc)

        thread = threading.Thread(target=insert_and_commit)
        thread.start()
        # The second waits for the first's lock on the day's running sum.
        wait_until(
            lambda: db.execute(
                "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s",
                (second.info.backend_pid,),
            ).fetchone()[0]
        )
        first.commit()
        thread.join(timeout=10)
        assert not thread.is_alive() and not failures, failures
    finally:
        first.close()
        second.close()

    assert alerts(db, "daily_spend", "global") == [("2100-03-01", 0, Decimal(55))]
    assert db.execute(
        "select spend from prospectpro.cost_windows"
        " where scope = 'global' and kind = 'day' and api_name = '' and window_start = %s",
        (DAY,),
    ).fetchone() == (Decimal(70),)
    assert db.execute(
        "select count(*) from prospectpro.outbox where webhook_type = 'cost_alert'"
    ).fetchone() == (1,)


def expected_windows(rows) -> dict[tuple, tuple[Decimal, int]]:
    """The running sums of cost_windows, computed here from the inserted rows."""
    sums: dict[tuple, list] = defaultdict(lambda: [Decimal(0), 0])
    for campaign, api, cost, requests, at in rows:
        starts = {
            "minute": at.replace(second=0, microsecond=0),
            "hour": at.replace(minute=0, second=0, microsecond=0),
            "day": at.replace(hour=0, minute=0, second=0, microsecond=0),
            "total": "-infinity",
        }
        for scope in ("global", f"campaign:{campaign}"):
            for kind, start in starts.items():
                for api_name in ("", api):
                    total = sums[scope, kind, start, api_name]
                    total[0] += cost
                    total[1] += requests
    return {key: tuple(value) for key, value in sums.items()}


def test_a_1000_row_insert_is_evaluated_by_one_call_with_exact_aggregates(db):
    ids = campaigns(db, 3)
    apis = ["google_places", "hunter_email_verifier", "website_scraper", "hunter_domain_search"]
    rows = [
        (
            ids[i % 3],
            apis[i % 4],
            Decimal(i % 50) / 100 + Decimal("0.0001") * (i % 7),
            1 + i % 5,
            DAY + timedelta(seconds=173 * i),  # about two days, one row a minute at most
        )
        for i in range(1000)
    ]
    with db.transaction():
        db.execute("set local track_functions = 'pl'")
        insert_costs(db, rows)
        calls, api_costs_scans = db.execute(
            "select (select calls from pg_stat_xact_user_functions"
            "        where funcname = 'trigger_cost_monitoring'),"
            "       (select seq_scan + coalesce(idx_scan, 0) from pg_stat_xact_user_tables"
            "        where relname = 'api_costs')"
        ).fetchone()
    assert calls == 1
    assert api_costs_scans == 0, "the rules read the aggregates, never api_costs"

    stored = {
        (scope, kind, "-infinity" if kind == "total" else start, api): (spend, requests)
        for scope, kind, start, api, spend, requests in db.execute(
            "select scope, kind, case when kind <> 'total' then window_start end,"
            " api_name, spend, requests from prospectpro.cost_windows"
        )
    }
    assert stored == expected_windows(rows)
    for campaign in ids:
        spend = db.execute("select prospectpro.campaign_spend(%s)", (campaign,)).fetchone()[0]
        assert spend == sum(r[2] for r in rows if r[0] == campaign)

    # One statement: each day over 50 (exceeding it) gets one alert, at the level its total
    # reached (level n once the excess is 50 x 2^(n-1)).
    days: dict[str, Decimal] = defaultdict(Decimal)
    for _, _, cost, _, at in rows:
        days[at.strftime("%Y-%m-%d")] += cost
    expected = []
    for day, total in sorted(days.items()):
        level, step = 0, Decimal(50)
        while total - 50 >= step:
            level, step = level + 1, step * 2
        if total > 50:
            expected.append((day, level, total))
    assert [level for _, level, _ in expected] == [1, 1]  # the data escalates both days
    assert alerts(db, "daily_spend", "global") == expected


def test_writers_trigger_the_rules_without_access_to_the_alert_tables(db):
    (campaign,) = campaigns(db, 1)
    with db.transaction():
        db.execute("set local role prospectpro_writer")
        insert_costs(db, [(campaign, "google_places", Decimal("50.01"), 1, DAY)])
    assert alerts(db, "daily_spend", "global") == [("2100-03-01", 0, Decimal("50.01"))]


def test_the_alert_is_delivered_with_the_seeds_keys(db, sink):
    db.execute("select prospectpro.configure_endpoint('cost_alert', %s, 'tok')", (sink.url,))
    first, second = campaigns(db, 2)
    at = DAY + timedelta(hours=15, minutes=30)
    insert_costs(
        db,
        [
            (second, "hunter_email_verifier", Decimal("20.25"), 1, at),
            (first, "google_places", Decimal("35.25"), 1, at),
        ],
    )
    assert db.execute("select prospectpro.deliver_due()").fetchone() == (1,)

    (request,) = sink.received
    assert request.headers["authorization"] == "Bearer tok"
    body = json.loads(request.body)
    alert_id, created_at = db.execute(
        "select id, created_at from prospectpro.cost_alerts where alert_type = 'daily_spend'"
    ).fetchone()
    assert set(body) == SEED_KEYS | {"alert_id", "severity", "scope"}
    assert set(body["alert_metadata"]) == {
        "campaign_ids",
        "top_cost_apis",
        "alert_triggered_at",
        "period_start",
        "period_end",
    }
    metadata = body.pop("alert_metadata")
    assert body == {
        "alert_type": "daily_spend",
        "threshold_value": 50.0,
        "current_value": 55.5,
        "threshold_exceeded_by": 5.5,
        "time_period": "daily",
        "alert_id": alert_id,
        "severity": "warning",
        "scope": "global",
    }
    assert metadata["campaign_ids"] == [first, second]
    assert metadata["top_cost_apis"] == ["google_places", "hunter_email_verifier"]
    assert (metadata["period_start"], metadata["period_end"]) == (
        "2100-03-01T00:00:00Z",
        "2100-03-02T00:00:00Z",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", metadata["alert_triggered_at"])
    triggered = datetime.fromisoformat(metadata["alert_triggered_at"].replace("Z", "+00:00"))
    assert abs(triggered - created_at) < timedelta(seconds=1)
    assert db.execute(
        "select webhook_status from prospectpro.cost_alert_history where id = %s", (alert_id,)
    ).fetchone() == ("delivered",)
