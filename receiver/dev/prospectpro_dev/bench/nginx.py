"""Delivery to nginx (Debian's nginx-light, ``return 204;``), beside the fast sink:
20,000 events committed at once, delivered by one worker, timed from the commit
to the last success logged. nginx logs each request's connection number, so the
row also says over how many connections they went."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ..processes import Processes, free_port, wait_until
from .common import Bench, Result, connect, median, scalar, step
from .delivery import CHECK_SQL, EMIT_SQL, SUCCESSES_SQL, TARGET, start_workers

WORKERS, BATCH = 1, 500
CONFIG = """
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format conn $connection;
    access_log {prefix}/access.log conn buffer=64k flush=1s;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 204; }}
    }}
}}
"""


class Nginx:
    """nginx on a free loopback port with a throwaway configuration, answering 204."""

    def __init__(self) -> None:
        self.prefix = Path(tempfile.mkdtemp(prefix="prospectpro-nginx-"))
        self.prefix.chmod(0o755)  # nginx's workers run as nobody when started as root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Nginx:
        conf = self.prefix / "nginx.conf"
        conf.write_text(CONFIG.format(prefix=self.prefix, port=self.port))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen([nginx, "-p", str(self.prefix), "-c", str(conf)])
        wait_until(lambda: (self.prefix / "nginx.pid").exists(), timeout=10)
        return self

    def connections(self) -> int:
        """Distinct connections in the access log (after nginx flushed it)."""
        log = self.prefix / "access.log"
        return len(set(log.read_text().split())) if log.exists() else 0

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.prefix, ignore_errors=True)


def deliver(conn, events: int, timeout: float) -> dict:
    conn.execute("truncate prospectpro.outbox, prospectpro.delivery_attempts")
    conn.execute(EMIT_SQL, (1, events))
    committed = time.perf_counter()
    wait_until(lambda: scalar(conn, SUCCESSES_SQL) >= events, timeout, interval=0.05)
    elapsed = time.perf_counter() - committed
    attempts, successes, distinct, undelivered = conn.execute(CHECK_SQL).fetchone()
    complete = attempts == successes == distinct == events and undelivered == 0
    return {"rate": events / elapsed, "seconds": elapsed, "complete": complete}


def run(bench: Bench) -> list[Result]:
    events, reps = (2_000, 1) if bench.quick else (20_000, 2)
    dsn = bench.database("bench_nginx")
    runs = []
    with Nginx() as nginx, Processes() as procs, connect(dsn) as conn:
        conn.execute(
            "select prospectpro.configure_endpoint('lead_enrichment', %s, 'tok',"
            " max_connections => 16)",
            (nginx.url,),
        )
        step(f"nginx: {events:,} events, {WORKERS} worker, batch {BATCH}, {reps} reps")
        start_workers(procs, dsn, WORKERS, BATCH)
        deliver(conn, 500, timeout=120)  # warm-up: imports, connections
        time.sleep(1.1)  # the warm-up's connections are in the log
        warm = nginx.connections()
        for rep in range(reps):
            runs.append(deliver(conn, events, timeout=300))
            step(f"  rep {rep + 1}/{reps}: {runs[-1]['rate']:.0f}/s in {runs[-1]['seconds']:.2f} s")
        time.sleep(1.1)
        connections = nginx.connections()
    bench.drop("bench_nginx")
    rate = median([r["rate"] for r in runs])
    complete = all(r["complete"] for r in runs)
    logged = "all logged" if complete else "LOG MISMATCH"
    return [
        Result(
            f"delivery to nginx (return 204), {WORKERS} worker, batch {BATCH}",
            f"{rate:,.0f} webhooks/s; {logged}; {connections} conns ({warm} at warm-up)",
            f">= {TARGET:,}/s",
            rate >= TARGET and complete,
            {"events": events, "runs": runs, "connections": connections},
        )
    ]
