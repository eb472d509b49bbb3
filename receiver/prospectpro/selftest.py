"""`prospectpro selftest`: the end-to-end check of a live deployment
(WEBHOOK_BASE_URL, DATABASE_URL, WEBHOOK_AUTH_TOKEN).

For each of the three systems it checks the health endpoint, that the
database trigger fires, and that the webhook is delivered (a worker or the
pg_cron job must be running). It works on a campaign of its own, with
per-campaign thresholds low enough to fire, and deletes every row it made.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import psycopg

RULE = "=" * 60


class CheckFailed(Exception):
    pass


@dataclass
class Report:
    results: dict[str, list[tuple[str, bool, str]]] = field(default_factory=dict)

    def run(self, system: str, name: str, check: Callable[[], None]) -> None:
        try:
            check()
        except (CheckFailed, httpx.HTTPError, psycopg.Error) as exc:
            self.results.setdefault(system, []).append((name, False, str(exc).strip()))
        else:
            self.results.setdefault(system, []).append((name, True, ""))

    def print(self) -> int:
        """Print the report, one section per webhook system; returns how many checks failed."""
        print("\n📊 WEBHOOK SYSTEM TEST REPORT")
        print(RULE)
        passed = failed = 0
        for system, checks in self.results.items():
            ok = sum(1 for _, good, _ in checks if good)
            print(f"\n🔸 {system}")
            print(f"   Passed: {ok} | Failed: {len(checks) - ok}")
            for name, good, why in checks:
                print(f"   {'✅' if good else '❌'} {name}" + ("" if good else f": {why}"))
            passed += ok
            failed += len(checks) - ok
        print("\n" + RULE)
        print(f"📈 OVERALL RESULTS: {passed} passed, {failed} failed")
        print(f"🎯 Success Rate: {100 * passed / max(passed + failed, 1):.1f}%")
        print(RULE)
        return failed


class SelfTest:
    def __init__(self, base_url: str, dsn: str, token: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.db = psycopg.connect(dsn, autocommit=True)
        self.campaign_id: int | None = None
        self.lead_id: int | None = None

    # -- helpers ---------------------------------------------------------
    def health(self, route: str) -> Callable[[], None]:
        def check() -> None:
            answer = httpx.get(f"{self.base_url}/api/webhooks/{route}/health", timeout=5)
            if answer.status_code != 200:
                failing = [k for k, v in answer.json().get("checks", {}).items() if not v["ok"]]
                raise CheckFailed(f"HTTP {answer.status_code}, failing: {', '.join(failing)}")

        return check

    def _events(self, condition: str, args: tuple) -> list[tuple[int, str]]:
        return self.db.execute(
            f"select id, status from prospectpro.outbox where {condition} order by id", args
        ).fetchall()

    def emitted(self, condition: str, args: tuple, what: str) -> int:
        events = self._events(condition, args)
        if not events:
            raise CheckFailed(f"no {what} event was queued")
        return events[-1][0]

    def delivered(self, event_id: int, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            status, error = self.db.execute(
                "select status, last_error from prospectpro.outbox where id = %s", (event_id,)
            ).fetchone()
            if status == "delivered":
                return
            if status == "dead" or time.monotonic() > deadline:
                raise CheckFailed(
                    f"{what} event {event_id} is {status} after {self.timeout:.0f} s"
                    + (f" ({error})" if error else "")
                )
            time.sleep(0.2)

    def lifecycle_event(self, event: str) -> int:
        return self.emitted(
            "webhook_type = 'campaign_lifecycle' and ordering_key = %s"
            " and payload ->> 'lifecycle_event' = %s",
            (f"campaign:{self.campaign_id}", event),
            event,
        )

    # -- the checks ----------------------------------------------------------
    def _need(self, what: str) -> None:
        if getattr(self, what) is None:
            raise CheckFailed(f"skipped: no {what.replace('_id', '')} (an earlier check failed)")

    def create_campaign(self) -> None:
        self.campaign_id = self.db.execute(
            "insert into prospectpro.campaigns (name, target_count, budget_limit)"
            " values ('ProspectPro selftest', 1000, 1000) returning id"
        ).fetchone()[0]
        self.delivered(self.lifecycle_event("created"), "created")

    def lead_trigger(self) -> None:
        self._need("campaign_id")
        self.lead_id = self.db.execute(
            "insert into prospectpro.enhanced_leads (campaign_id, business_name)"
            " values (%s, 'Selftest Cafe') returning id",
            (self.campaign_id,),
        ).fetchone()[0]
        self.emitted(
            "webhook_type = 'lead_enrichment' and (payload ->> 'lead_id')::bigint = %s"
            " and payload ->> 'enrichment_stage' = 'stage1'",
            (self.lead_id,),
            "stage-1 lead_enrichment",
        )

    def lead_status_update(self) -> None:
        self._need("lead_id")
        # Past the external stages, so the receiver's answer costs no API call.
        self.db.execute(
            "update prospectpro.enhanced_leads set enrichment_stage = 'stage4' where id = %s",
            (self.lead_id,),
        )
        event = self.emitted(
            "webhook_type = 'lead_enrichment' and (payload ->> 'lead_id')::bigint = %s"
            " and payload ->> 'enrichment_stage' = 'stage4'",
            (self.lead_id,),
            "stage-change lead_enrichment",
        )
        self.delivered(event, "lead status")

    def threshold_alert(self, alert_type: str) -> Callable[[], None]:
        def check() -> None:
            self._need("campaign_id")
            self.db.execute(
                "select prospectpro.set_cost_threshold(%s, 0.01, %s)",
                (alert_type, self.campaign_id),
            )
            self.db.execute(
                "insert into prospectpro.api_costs (campaign_id, lead_id, api_name, cost)"
                " values (%s, %s, 'prospectpro_selftest', 0.02)",
                (self.campaign_id, self.lead_id),
            )
            row = self.db.execute(
                "select event_id from prospectpro.cost_alerts"
                " where alert_type = %s and scope = %s order by id desc limit 1",
                (alert_type, f"campaign:{self.campaign_id}"),
            ).fetchone()
            if row is None or row[0] is None:
                raise CheckFailed(f"no {alert_type} alert was raised")
            self.delivered(row[0], alert_type)

        return check

    def status_update(self) -> None:
        self._need("campaign_id")
        self.db.execute(
            "select prospectpro.set_campaign_status(%s, 'processing', 'selftest')",
            (self.campaign_id,),
        )
        self.delivered(self.lifecycle_event("processing_started"), "processing_started")

    def completion(self) -> None:
        self._need("campaign_id")
        self.db.execute(
            "select prospectpro.set_campaign_status(%s, 'completed', 'selftest')",
            (self.campaign_id,),
        )
        self.delivered(self.lifecycle_event("completed"), "completed")

    def cleanup(self) -> None:
        """Delete what the run made: its campaign and everything hanging off it."""
        if self.campaign_id is None:
            return
        key = f"campaign:{self.campaign_id}"
        with self.db.transaction():
            self.db.execute(
                "delete from prospectpro.outbox where ordering_key = %s"
                " or (payload ->> 'campaign_id')::bigint = %s"
                " or id in (select event_id from prospectpro.cost_alerts where scope = %s)",
                (key, self.campaign_id, key),
            )
            self.db.execute("delete from prospectpro.cost_alerts where scope = %s", (key,))
            self.db.execute(
                "delete from prospectpro.api_costs where campaign_id = %s", (self.campaign_id,)
            )
            self.db.execute(
                "delete from prospectpro.cost_thresholds where campaign_id = %s",
                (self.campaign_id,),
            )
            self.db.execute("delete from prospectpro.campaigns where id = %s", (self.campaign_id,))

    def run(self) -> int:
        report = Report()
        try:
            lead, cost, life = "LEADENRICHMENT", "COSTALERT", "CAMPAIGNLIFECYCLE"
            report.run(lead, "Lead enrichment webhook health check", self.health("lead-enrichment"))
            report.run(life, "Campaign lifecycle webhook health check",
                       self.health("campaign-lifecycle"))  # fmt: skip
            report.run(life, "Campaign creation webhook trigger", self.create_campaign)
            report.run(lead, "Lead enrichment database trigger", self.lead_trigger)
            report.run(lead, "Lead status update webhook", self.lead_status_update)
            report.run(cost, "Cost alert webhook health check", self.health("cost-alert"))
            report.run(cost, "Daily spend threshold alert", self.threshold_alert("daily_spend"))
            report.run(cost, "Cost per lead threshold alert",
                       self.threshold_alert("cost_per_lead"))  # fmt: skip
            report.run(life, "Campaign status update webhook", self.status_update)
            report.run(life, "Campaign completion webhook", self.completion)
        finally:
            self.cleanup()
            self.db.close()
        order = {"LEADENRICHMENT": 0, "COSTALERT": 1, "CAMPAIGNLIFECYCLE": 2}
        report.results = dict(sorted(report.results.items(), key=lambda kv: order[kv[0]]))
        return 1 if report.print() else 0


def run(base_url: str, dsn: str, token: str, timeout: float) -> int:
    return SelfTest(base_url, dsn, token, timeout).run()
