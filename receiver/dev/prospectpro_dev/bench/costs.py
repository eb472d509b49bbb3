"""Cost-rule evaluation: the time to record one API cost (one row per
transaction, so the cost rules and the budget guard run each time) with 1,000
and with 1,000,000 earlier cost rows, measured in alternating rounds.

The history is loaded through the triggers (as the costs would have been
recorded), spread evenly over the last 30 days, 50 campaigns of 100 leads
each, and the five APIs the receiver calls at their list prices.
"""

from __future__ import annotations

import random
import tempfile
import time

from prospectpro.providers.pricing import DEFAULT_PRICES

from .common import Bench, Result, alternate, connect, median, step
from .write import DONE, TPS

CAMPAIGNS, LEADS = 50, 100
CHUNK = 100_000
CLIENTS = 8
SETUP_SQL = f"""
insert into prospectpro.campaigns (name, target_count)
select 'Campaign ' || n, 1000000 from generate_series(1, {CAMPAIGNS}) as n;
insert into prospectpro.enhanced_leads (campaign_id, business_name)
select c.id, 'Business ' || c.id || '-' || n
from prospectpro.campaigns as c cross join generate_series(1, {LEADS}) as n;
"""
HISTORY_SQL = """
insert into prospectpro.api_costs (campaign_id, api_name, cost, created_at)
select 1 + n %% %(campaigns)s, (%(apis)s::text[])[1 + n %% 5], (%(prices)s::numeric[])[1 + n %% 5],
       now() - interval '30 days' * (1 - n::float8 / %(total)s)
from generate_series(%(first)s::int, %(last)s::int) as n
"""
RECORD_SQL = "insert into prospectpro.api_costs (campaign_id, api_name, cost) values (%s, %s, %s)"
TARGET = 1.2


def load(dsn: str, rows: int) -> None:
    """Campaigns, leads and ``rows`` cost rows of history, through the triggers."""
    apis, prices = list(DEFAULT_PRICES), list(DEFAULT_PRICES.values())
    with connect(dsn) as conn:
        conn.execute(SETUP_SQL)
        for first in range(1, rows + 1, CHUNK):
            last = min(first + CHUNK - 1, rows)
            started = time.perf_counter()
            conn.execute(
                HISTORY_SQL,
                {"campaigns": CAMPAIGNS, "apis": apis, "prices": prices, "total": rows,
                 "first": first, "last": last},
            )  # fmt: skip
            if rows > CHUNK:
                step(f"  loaded {last:,} of {rows:,} ({time.perf_counter() - started:.1f} s)")
        conn.execute("vacuum analyze")


def recorder(dsn: str, count: int, seed: int):
    """A measurement: ``count`` single-row cost transactions; returns their times (ms)."""
    rng = random.Random(seed)
    conn = connect(dsn)
    prices = list(DEFAULT_PRICES.items())

    def measure() -> list[float]:
        times = []
        for _ in range(count):
            api, price = rng.choice(prices)
            started = time.perf_counter()
            conn.execute(RECORD_SQL, (rng.randint(1, CAMPAIGNS), api, price))
            times.append((time.perf_counter() - started) * 1000)
        return times

    return conn, measure


def run(bench: Bench) -> list[Result]:
    small, large = 1_000, (100_000 if bench.quick else 1_000_000)
    rounds, per_round = (2, 25) if bench.quick else (5, 40)
    dsns = {}
    for rows in (small, large):
        step(f"costs: loading {rows:,} cost rows through the triggers")
        started = time.perf_counter()
        dsns[rows] = bench.database(f"bench_costs_{rows}")
        load(dsns[rows], rows)
        step(f"  {rows:,} rows in {time.perf_counter() - started:.1f} s")
    conns, runs = [], {}
    for rows, dsn in dsns.items():
        conn, measure = recorder(dsn, per_round, rows)
        measure()  # warm-up: the package loads, expired alerts resolve
        conns.append(conn)
        runs[f"{rows:,} rows"] = measure
    step(f"costs: {rounds} alternating rounds of {per_round} single-row inserts each")
    ms = alternate(rounds, runs, "ms (median)")
    for conn in conns:
        conn.close()
    concurrency = scaling(bench, f"bench_costs_{large}", 2 if bench.quick else 4)
    for dsn in dsns.values():
        bench.top_statements(dsn, "costs")
    for rows in dsns:
        bench.drop(f"bench_costs_{rows}")
    with_small, with_large = median(ms[f"{small:,} rows"]), median(ms[f"{large:,} rows"])
    ratio = with_large / with_small
    one, many = concurrency[1]["tps"], concurrency[CLIENTS]["tps"]
    return [
        Result(
            f"cost insert, {large:,} vs {small:,} rows",
            f"{with_large:.2f} vs {with_small:.2f} ms = {ratio:.2f}x",
            f"<= {TARGET}x",
            ratio <= TARGET,
            {"ms": ms, "ratio": ratio, "rows": [small, large]},
        ),
        Result(
            f"cost inserts/s, {CLIENTS} clients vs 1 (no target)",
            f"{many:.0f} vs {one:.0f} tps = {many / one:.2f}x; "
            f"{concurrency[CLIENTS]['per_txn']['wal_sync']:.2f} WAL syncs/insert",
            data=concurrency,
        ),
    ]


def scaling(bench: Bench, dbname: str, seconds: int) -> dict[int, dict]:
    """pgbench: single-row cost inserts by 1 and by CLIENTS clients. Inserts that
    scale commit together (group commit: well under one WAL sync each)."""
    prices = ",".join(f"'{api}'" for api in DEFAULT_PRICES)
    script = (
        f"\\set cid random(1, {CAMPAIGNS})\n\\set api random(1, {len(DEFAULT_PRICES)})\n"
        "insert into prospectpro.api_costs (campaign_id, api_name, cost)"
        f" values (:cid, (array[{prices}])[:api], 0.0123);\n"
    )
    figures = {}
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as file:
        file.write(script)
        file.flush()
        for clients in (1, CLIENTS):
            with bench.observe(bench.cluster.dsn(dbname), f"cost inserts x{clients}") as usage:
                out = bench.pgbench(
                    dbname, "-n", "-M", "prepared", "-c", str(clients), "-j", "2",
                    "-T", str(seconds), "-f", file.name,
                )  # fmt: skip
            done = int(DONE.search(out)[1])
            figures[clients] = {"tps": float(TPS.search(out)[1]), "per_txn": usage.per(done)}
            step(f"  {clients} client(s): {figures[clients]['tps']:.0f} tps")
    return figures
