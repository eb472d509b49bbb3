"""Write overhead in instructions: what one single-lead transaction costs the
server with the extension's triggers and without, counted by valgrind's
callgrind on PostgreSQL in single-user mode (one transaction per statement).

A count, unlike a timing, does not move with the load of a shared machine: it
shows what a change to the capture saves before pgbench can tell it from the
noise. Opt-in (--only instructions): it needs valgrind and takes about a
minute. Single-user mode plans each statement, so the plain figure is higher
than a prepared insert's; the triggers' part is the same.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from ..cluster import PG_BIN, Cluster, as_server_user
from .common import Bench, Result, step
from .write import CAMPAIGNS, with_plain_tables

DATABASE = "bench_instructions"
WARM, MEASURED = 50, 300
COLLECTED = re.compile(r"Collected : (\d+)")


def _inserts(schema: str, first: int, count: int) -> str:
    # Single-user mode with -j ends a statement at a semicolon and an empty line.
    return "".join(
        f"insert into {schema}.enhanced_leads (campaign_id, business_name, website, phone,"
        f" address) values ({1 + n % CAMPAIGNS}, 'Business {n}', 'https://b{n}.example.com',"
        f" '+1 555 0100', '{n} Main St');\n\n"
        for n in range(first, first + count)
    )


def _single_user(cluster: Cluster, sql: str, wrapper: list[str]) -> subprocess.CompletedProcess:
    command = [str(PG_BIN / "postgres"), "--single", "-j", "-D", str(cluster.data), DATABASE]
    done = subprocess.run(
        [*as_server_user(), *wrapper, *command], input=sql, capture_output=True, text=True
    )
    if done.returncode != 0 or "ERROR:" in done.stderr:
        raise RuntimeError(f"single-user PostgreSQL failed: {done.stderr[-1000:]}")
    return done


def _instructions(cluster: Cluster, sql: str) -> int:
    out = cluster.dir / "callgrind.out"
    wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    done = _single_user(cluster, sql, wrapper)
    out.unlink()
    return int(COLLECTED.search(done.stderr)[1])


def run(bench: Bench) -> list[Result]:
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is not installed (apt-get install valgrind)")
    per_txn: dict[str, float] = {}
    # A cluster of its own: single-user mode needs its server stopped.
    with Cluster() as cluster:
        with_plain_tables(cluster.create_database(DATABASE))
        cluster.stop()
        for name, schema in (("plain", "plain"), ("triggers", "prospectpro")):
            # Every campaign gets its first lead (and starts) before anything is counted.
            _single_user(cluster, _inserts(schema, 0, CAMPAIGNS), [])
            step(f"instructions: {schema}, {WARM} then {WARM + MEASURED} inserts under callgrind")
            few = _instructions(cluster, _inserts(schema, CAMPAIGNS, WARM))
            many = _instructions(cluster, _inserts(schema, CAMPAIGNS, WARM + MEASURED))
            per_txn[name] = (many - few) / MEASURED
    triggers, plain = (round(per_txn[name] / 1000) for name in ("triggers", "plain"))
    return [
        Result(
            "instructions per 1-lead transaction (callgrind)",
            f"{triggers}k vs {plain}k plain = +{triggers - plain}k",
            data={"per_transaction": per_txn, "measured": MEASURED},
        )
    ]
