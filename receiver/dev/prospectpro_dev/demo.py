"""`make demo` (python -m prospectpro_dev.demo): the whole system on a throwaway
cluster, watched live.

It starts a cluster with the extension, the stand-in provider APIs, the
receiver and a worker; creates the campaign "San Diego Restaurants", inserts
its leads, shows the pipeline at work until the campaign has ended and every
webhook of it has been delivered, prints a summary, and stops everything it
started (also on Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from math import inf
from pathlib import Path

import psycopg
from prospectpro.app import ROUTES
from prospectpro.contracts import WORK_STAGES

from .cluster import Cluster
from .processes import Process, Processes, free_port, interrupt_on_sigterm, wait_answering
from .standins import provider_env, running_standins

TOKEN = "demo-token"
KINDS = [
    "Taqueria", "Sushi Bar", "Pizzeria", "Cafe", "Bistro", "Fish Tacos", "Brewing Co",
    "Noodle House", "Grill", "Bakery",
]  # fmt: skip
PLACES = [
    "Gaslamp", "La Jolla", "North Park", "Little Italy", "Ocean Beach", "Hillcrest",
    "Pacific Beach", "Coronado", "Point Loma", "Mission Hills",
]  # fmt: skip

PROGRESS_SQL = """
select
    count(*) filter (where enrichment_stage <> 'stage1') as stage1,
    count(*) filter (where enrichment_stage not in ('stage1', 'stage2')) as stage2,
    count(*) filter (where enrichment_stage in ('stage4', 'completed', 'failed')) as stage3,
    count(*) filter (where enrichment_stage in ('completed', 'failed')) as stage4,
    count(*) filter (where is_qualified) as qualified,
    count(*) filter (where enrichment_stage = 'failed') as failed
from prospectpro.enhanced_leads where campaign_id = %s
"""
# The campaign's events: lead and lifecycle payloads name it in campaign_id, a cost
# alert lists the campaigns whose spend raised it in alert_metadata.campaign_ids.
CAMPAIGN_EVENTS_SQL = """
select o.id, o.webhook_type, o.status from prospectpro.outbox as o
where (o.payload ->> 'campaign_id')::bigint = %(campaign)s
   or o.payload -> 'alert_metadata' -> 'campaign_ids' @> pg_catalog.to_jsonb(%(campaign)s::bigint)
"""
QUEUE_SQL = f"""
select count(*) filter (where e.status = 'delivered') as delivered,
       count(*) filter (where e.status = 'pending') as pending
from ({CAMPAIGN_EVENTS_SQL}) as e
"""
# The seed's success rates (attempts that succeeded, per type), for the campaign's events.
WEBHOOKS_SQL = f"""
select e.webhook_type,
       count(w.id) filter (where w.status = 'success') as successful,
       count(w.id) as attempts,
       count(distinct e.id) filter (where e.status = 'pending') as pending
from ({CAMPAIGN_EVENTS_SQL}) as e
left join prospectpro.webhook_logs as w on e.id = w.event_id
group by e.webhook_type order by e.webhook_type
"""
ENDED = ("completed", "error", "cancelled")


def status_text(status: str, budget_limit: Decimal | None) -> str:
    """The campaign's status, and for a paused one why and what resumes it: only the
    budget guard pauses, and raising budget_limit resumes the campaign."""
    if status == "paused" and budget_limit is not None:
        return f"paused: budget ${budget_limit:.2f} reached; raise budget_limit to resume"
    return status


def lead_names(count: int) -> list[str]:
    return [f"{PLACES[n % 10]} {KINDS[(n // 10) % 10]}" + (f" {n // 100 + 1}" if n >= 100 else "")
            for n in range(count)]  # fmt: skip


@dataclass
class Screen:
    """Live progress: on a terminal, a frame redrawn in place; elsewhere (a CI log,
    ``make demo | tee``), a line of its own about every second."""

    live: bool
    lines_drawn: int = 0
    last_line: float = -inf

    def show(self, frame: list[str], line: str, last: bool = False) -> None:
        if self.live:
            if self.lines_drawn:
                sys.stdout.write(f"\x1b[{self.lines_drawn}F\x1b[J")
            sys.stdout.write("\n".join(frame) + "\n")
            sys.stdout.flush()
            self.lines_drawn = len(frame)
        elif last or time.monotonic() - self.last_line >= 1.0:
            print(line, flush=True)
            self.last_line = time.monotonic()


def bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // total if total else 0
    return f"[{'#' * filled}{'.' * (width - filled)}] {done:>4}/{total}"


class Demo:
    def __init__(
        self,
        leads: int,
        workers: int,
        export_dir: Path,
        timeout: float,
        budget: Decimal = Decimal(50),
    ) -> None:
        self.leads = leads
        self.budget = budget
        self.workers = workers
        self.export_dir = export_dir
        self.timeout = timeout
        self.processes = Processes(timeout=15)
        self.alerts_seen: set[int] = set()
        self.alert_lines: list[str] = []

    def _spawn(self, args: list[str], env: dict[str, str]) -> Process:
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        return self.processes.spawn("prospectpro", *args, env=env, **quiet)

    def run(self) -> int:
        step("starting a throwaway PostgreSQL cluster")
        with Cluster() as cluster:
            code = self.run_in(cluster.create_database("prospectpro"))
            step("removing the throwaway cluster")
        return code

    def run_in(self, dsn: str) -> int:
        """The demo in the database ``dsn``, which has the extension and is the demo's
        alone: its endpoints are pointed at the demo's receiver."""
        with running_standins() as standins:
            try:
                return self._run(dsn, standins)
            finally:
                step("stopping the receiver, the worker and the stand-ins")
                self.processes.stop()

    def _export(self, campaign_id: int) -> Path:
        return self.export_dir / f"campaign-{campaign_id}.csv"

    def _run(self, dsn: str, standins: str) -> int:
        step(f"stand-in provider APIs at {standins}")
        port = free_port()
        receiver = f"http://127.0.0.1:{port}"
        env = {
            "DATABASE_URL": dsn,
            "WEBHOOK_AUTH_TOKEN": TOKEN,
            **provider_env(standins),
            "EXPORT_DIR": str(self.export_dir),
            "LOG_LEVEL": "ERROR",
        }
        server = self._spawn(["serve", "--port", str(port)], env)
        health = receiver + "/api/webhooks/lead-enrichment/health"
        wait_answering(health, status=None, timeout=20, process=server)
        step(f"receiver at {receiver}")
        for _ in range(self.workers):
            self._spawn(["worker"], env)
        step(f"{self.workers} delivery worker(s) running")

        with psycopg.connect(dsn, autocommit=True) as db:
            for webhook_type, path in ROUTES.items():
                db.execute(
                    "select prospectpro.configure_endpoint(%s, %s, %s)",
                    (webhook_type, receiver + path, TOKEN),
                )
            campaign_id = db.execute(
                "insert into prospectpro.campaigns (name, target_count, budget_limit)"
                " values ('San Diego Restaurants', %s, %s) returning id",
                (self.leads, self.budget),
            ).fetchone()[0]
            _demo_thresholds(db, campaign_id)
            # An earlier run's export of a campaign of the same id is not this one's.
            self._export(campaign_id).unlink(missing_ok=True)
            db.execute(
                "insert into prospectpro.enhanced_leads (campaign_id, business_name, address)"
                " select %s, name, 'San Diego, CA' from unnest(%s::text[]) as name",
                (campaign_id, lead_names(self.leads)),
            )
            step(f"campaign {campaign_id} 'San Diego Restaurants': {self.leads} leads inserted")
            status, pending = self._watch(db, campaign_id)
            self._summary(db, campaign_id)
        return 0 if status == "completed" and not pending else 1

    def _watch(self, db: psycopg.Connection, campaign_id: int) -> tuple[str, int]:
        """Show the campaign at work until it has ended and the outbox holds nothing
        pending for it (so that the summary's counts are final), or the timeout passes.
        Returns its status and the number of its events still pending."""
        screen = Screen(live=sys.stdout.isatty())
        started = time.monotonic()
        history: list[tuple[float, int]] = []
        while True:
            progress = db.execute(PROGRESS_SQL, (campaign_id,)).fetchone()
            status, budget_limit, cost = db.execute(
                "select status, budget_limit, prospectpro.campaign_spend(id)"
                " from prospectpro.campaigns where id = %s",
                (campaign_id,),
            ).fetchone()
            delivered, pending = db.execute(QUEUE_SQL, {"campaign": campaign_id}).fetchone()
            now = time.monotonic()
            history = [(t, n) for t, n in history if now - t <= 3.0] + [(now, delivered)]
            rate = (history[-1][1] - history[0][1]) / max(history[-1][0] - history[0][0], 1e-9)
            self._new_alerts(db)
            webhooks = f"{delivered} delivered, {pending} pending, {rate:.0f}/s"
            frame = [
                f"  campaign  {bar(progress[3], self.leads)}  {status_text(status, budget_limit)}",
                *(
                    f"  {name:<8}  {bar(done, self.leads)}"
                    for name, done in zip(WORK_STAGES, progress[:4], strict=True)
                ),
                f"  webhooks  {webhooks}   cost ${cost:.2f}"
                f"   qualified {progress[4]}   failed {progress[5]}",
                *self.alert_lines[-4:],
                f"  elapsed {now - started:.1f} s",
            ]
            stages = "/".join(str(done) for done in progress[:4])
            line = (
                f"  {now - started:5.1f} s  {status_text(status, budget_limit):<10}"
                f"  stages 1-4 done {stages} of"
                f" {self.leads}  webhooks {webhooks}  cost ${cost:.2f}"
                f"  qualified {progress[4]}  failed {progress[5]}  alerts {len(self.alert_lines)}"
            )
            # A paused campaign sends nothing more until its budget is raised.
            done = (status in ENDED or status == "paused") and not pending
            timed_out = not done and now - started > self.timeout
            screen.show(frame, line, last=done or timed_out)
            if timed_out:
                print(f"  timed out after {self.timeout:.0f} s", flush=True)
            if done or timed_out:
                return status, pending
            time.sleep(0.25)

    def _new_alerts(self, db: psycopg.Connection) -> None:
        rows = db.execute(
            "select id, alert_type, scope, current_value, threshold_value"
            " from prospectpro.cost_alert_history order by id"
        ).fetchall()
        for alert_id, alert_type, scope, current, threshold in rows:
            if alert_id not in self.alerts_seen:
                self.alerts_seen.add(alert_id)
                self.alert_lines.append(
                    f"  ALERT     {alert_type} ({scope}): {current} over {threshold}"
                )

    def _summary(self, db: psycopg.Connection, campaign_id: int) -> None:
        # The receiver writes the export before it answers the completed webhook.
        export = self._export(campaign_id)
        row = db.execute(
            "select d.status, d.total_leads, d.finished_leads, d.qualified_leads,"
            " d.processing_cost, d.budget_left, c.budget_limit"
            " from prospectpro.campaign_lifecycle_dashboard as d"
            " join prospectpro.campaigns as c on c.id = d.campaign_id where d.campaign_id = %s",
            (campaign_id,),
        ).fetchone()
        print("\n" + "=" * 60)
        print("  ProspectPro demo: San Diego Restaurants")
        print("=" * 60)
        print(f"  status            {status_text(row[0], row[6])}")
        print(f"  leads             {row[1]} ({row[2]} through the pipeline)")
        print(f"  qualified         {row[3]}")
        print(f"  cost              ${row[4]:.2f} (budget left ${row[5]:.2f})")
        print("  webhook success rate per type (attempts that succeeded):")
        still_pending = []
        for webhook_type, ok, attempts, pending in db.execute(
            WEBHOOKS_SQL, {"campaign": campaign_id}
        ).fetchall():
            rate = f"{ok / attempts * 100:.2f}%" if attempts else "no attempt yet"
            print(f"    {webhook_type:<20} {ok}/{attempts} ({rate})")
            if pending:
                still_pending.append(f"{webhook_type} {pending}")
        if still_pending:
            waited = f"when the {self.timeout:.0f} s timeout passed"
            print(f"  still pending     {', '.join(still_pending)} {waited}")
        print(f"  cost alerts       {len(self.alerts_seen)}")
        for line in self.alert_lines:
            print("  " + line.strip())
        print(f"  CSV export        {export if export.exists() else 'not written'}")
        print("=" * 60, flush=True)


def _demo_thresholds(db: psycopg.Connection, campaign_id: int) -> None:
    """A per-campaign override low enough that the demo shows an alert firing."""
    db.execute("select prospectpro.set_cost_threshold('cost_per_lead', 0.05, %s)", (campaign_id,))


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(leads: int, workers: int, export_dir: Path, timeout: float, budget: Decimal) -> int:
    for noisy in ("httpx", "uvicorn", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if shutil.which("runuser") is None and os.geteuid() == 0:
        print("runuser is needed to start PostgreSQL as the postgres user", file=sys.stderr)
        return 2
    interrupt_on_sigterm()
    try:
        return Demo(leads, workers, export_dir, timeout, budget).run()
    except KeyboardInterrupt:
        print("\ninterrupted: everything the demo started has been stopped", flush=True)
        return 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prospectpro_dev.demo", description=__doc__)
    parser.add_argument("--leads", type=int, default=100, help="leads in the campaign (100)")
    parser.add_argument("--workers", type=int, default=1, help="delivery workers (1)")
    parser.add_argument(
        "--export-dir",
        type=Path,
        default=Path(os.environ.get("EXPORT_DIR", ".demo/exports")),
        help="where the receiver writes the campaign's CSV (env EXPORT_DIR)",
    )
    parser.add_argument("--timeout", type=float, default=110.0, help="give up after (s)")
    parser.add_argument(
        "--budget", type=Decimal, default=Decimal(50), help="the campaign's budget_limit, USD (50)"
    )
    args = parser.parse_args(argv)
    return run(args.leads, args.workers, args.export_dir.resolve(), args.timeout, args.budget)


if __name__ == "__main__":
    sys.exit(main())
