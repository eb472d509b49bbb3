"""The receiver: stage-1 lead_enrichment webhooks answered per second, 50 at a
time, each a real one (the event the lead's insert queued, its webhook-id and
payload) so that every request calls the stand-in providers and applies the
outcome (in the receiver's batches of prospectpro.apply_enrichment_batch());
and the peak memory of each of its processes (`serve --workers 2`: two
uvicorn workers beside their supervisor)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from ..demo import lead_names
from ..processes import Process, Processes, children, free_port, wait_answering
from ..standins import provider_env
from .common import Bench, Result, connect, describe, median, step, vm_hwm_mb
from .fastsink import CONTENT_LENGTH

TOKEN = "bench-token"
PATH = "/api/webhooks/lead-enrichment"
CONCURRENCY = 50
LEADS_SQL = """
with c as (
    insert into prospectpro.campaigns (name, target_count) values ('Receiver bench', 1000000)
    returning id
)
insert into prospectpro.enhanced_leads (campaign_id, business_name)
select c.id, n.name from c cross join unnest(%s::text[]) as n (name)
"""
EVENTS_SQL = """
select webhook_id::text, payload::text from prospectpro.outbox
where webhook_type = 'lead_enrichment' order by id
"""
SERVE_WORKERS = 2
TARGET_RATE, TARGET_MB = 800, 150


async def post_all(base: str, events: list[tuple[str, str]]) -> tuple[float, Counter, Counter]:
    """POST every event over CONCURRENCY keep-alive connections; returns the time
    taken, the answers ("status kind") and the error messages of failed ones.

    A raw HTTP/1.1 client: httpx used 5-7 ms of CPU per request here, as much
    as the receiver itself, on the same two cores.
    """
    answers: Counter = Counter()
    errors: Counter = Counter()
    pending = iter(events)
    host, port = base.split("//")[1].split(":")
    head = (
        f"POST {PATH} HTTP/1.1\r\nhost: {host}:{port}\r\nauthorization: Bearer {TOKEN}\r\n"
        "content-type: application/json\r\nwebhook-id: {}\r\ncontent-length: {}\r\n\r\n"
    )

    async def sender() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        for webhook_id, body in pending:
            data = body.encode()
            writer.write(head.format(webhook_id, len(data)).encode() + data)
            answer_head = await reader.readuntil(b"\r\n\r\n")
            length = int(CONTENT_LENGTH.search(answer_head)[1])
            answer = json.loads(await reader.readexactly(length))
            status = int(answer_head[9:12])
            answers[f"{status} {answer.get('status')}"] += 1
            if status != 200:
                errors[str(answer.get("error"))[:200]] += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started, answers, errors


def start_receiver(procs: Processes, dsn: str, standins: str, log: Path) -> tuple[Process, str]:
    """``prospectpro serve`` on a free port, its output to ``log``; returns it and its URL."""
    port = free_port()
    env = {
        "DATABASE_URL": dsn,
        "WEBHOOK_AUTH_TOKEN": TOKEN,
        **provider_env(standins),
        "LOG_LEVEL": "ERROR",
    }
    args = ["serve", "--port", str(port), "--workers", str(SERVE_WORKERS)]
    proc = procs.spawn("prospectpro", *args, env=env, log=log)
    base = f"http://127.0.0.1:{port}"
    with connect(dsn) as conn:  # as deployed (its /health checks it); no worker runs
        conn.execute(
            "select prospectpro.configure_endpoint('lead_enrichment', %s, %s)",
            (base + PATH, TOKEN),
        )
    wait_answering(base + PATH + "/health", timeout=30, process=proc)
    return proc, base


def run(bench: Bench) -> list[Result]:
    per_rep, reps, warm = (200, 1, 50) if bench.quick else (1000, 3, 200)
    dsn = bench.database("bench_receiver")
    with connect(dsn) as conn:
        conn.execute(LEADS_SQL, (lead_names(warm + per_rep * reps),))
        events = conn.execute(EVENTS_SQL).fetchall()
    with tempfile.TemporaryDirectory() as logs, Processes() as procs:  # stopped, then logs gone
        standins = procs.spawn("prospectpro_dev.standins", "--port", "0", stdout=subprocess.PIPE)
        standins_url = standins.stdout.readline().decode().strip()
        receiver, base = start_receiver(procs, dsn, standins_url, Path(logs) / "receiver.log")
        step(f"receiver: {reps} x {per_rep:,} stage-1 webhooks, {CONCURRENCY} concurrent")
        asyncio.run(post_all(base, events[:warm]))
        runs = []
        for rep in range(reps):
            batch = events[warm + rep * per_rep : warm + (rep + 1) * per_rep]
            serving = [receiver.pid, *children(receiver.pid)]
            processes = {"receiver": serving, "standins": [standins.pid]}
            with bench.observe(dsn, "receiver", **processes) as usage:
                elapsed, answers, errors = asyncio.run(post_all(base, batch))
            per = usage.per(per_rep)
            runs.append(
                {
                    "rate": per_rep / elapsed,
                    "answers": dict(answers),
                    "errors": dict(errors),
                    "per_webhook": per,
                }
            )
            step(f"  rep {rep + 1}/{reps}: {runs[-1]['rate']:.0f}/s, answers {dict(answers)}")
            step(f"    per webhook: {describe(per)}")
            for error, count in errors.items():
                step(f"    {count} x {error}")
        peak_mb = max(vm_hwm_mb(pid) for pid in [receiver.pid, *children(receiver.pid)])
    bench.top_statements(dsn, "receiver")
    bench.drop("bench_receiver")
    rate = median([r["rate"] for r in runs])
    applied = sum(r["answers"].get("200 applied", 0) for r in runs)
    return [
        Result(
            f"receiver (serve --workers {SERVE_WORKERS}), stage 1, {CONCURRENCY} concurrent",
            f"{rate:.0f} webhooks/s, {applied}/{per_rep * reps} applied;"
            f" peak RSS {peak_mb:.0f} MB per process",
            f">= {TARGET_RATE}/s, <= {TARGET_MB} MB per process",
            rate >= TARGET_RATE and peak_mb <= TARGET_MB,
            {"runs": runs, "rate": rate, "peak_rss_mb": peak_mb, "applied": applied},
        )
    ]
