"""Write overhead, bulk: one INSERT ... SELECT of 100,000 leads with the
extension's triggers and without, in a fresh database each repetition."""

from __future__ import annotations

import time

from .common import Bench, Result, alternate, connect, median, step
from .write import CAMPAIGNS, with_plain_tables

INSERT_SQL = f"""
insert into {{schema}}.enhanced_leads (campaign_id, business_name, website, phone, address)
select 1 + n % {CAMPAIGNS}, 'Business ' || n, 'https://b' || n || '.example.com',
       '+1 555 ' || lpad((n % 10000)::text, 4, '0'), n || ' Main St'
from generate_series(1, {{rows}}) as n
"""
TARGET = 2.5


def run(bench: Bench) -> list[Result]:
    reps, rows = (2, 10_000) if bench.quick else (3, 100_000)
    step(f"bulk: INSERT ... SELECT of {rows:,} leads, {reps} repetitions, fresh tables each")
    counter = iter(range(10**6))

    def insert(schema: str):
        def measure() -> float:
            name = f"bench_bulk_{next(counter)}"
            dsn = bench.database(name)
            with_plain_tables(dsn)
            with connect(dsn) as conn:
                # Warm the session (PL/Python loads the package on its first call).
                conn.execute(INSERT_SQL.format(schema=schema, rows=1))
                started = time.perf_counter()
                conn.execute(INSERT_SQL.format(schema=schema, rows=rows))
                elapsed = time.perf_counter() - started
            if bench.profile:
                bench.top_statements(dsn, f"bulk insert into {schema}")
            bench.drop(name)
            return elapsed * 1000

        return measure

    ms = alternate(reps, {"triggers": insert("prospectpro"), "plain": insert("plain")}, "ms")
    triggers, plain = median(ms["triggers"]), median(ms["plain"])
    ratio = triggers / plain
    return [
        Result(
            f"write overhead, bulk {rows:,} leads",
            f"{triggers / 1000:.2f} vs {plain / 1000:.2f} s = {ratio:.2f}x plain",
            f"<= {TARGET:g}x",
            ratio <= TARGET,
            {"ms": ms, "ratio": ratio, "rows": rows},
        )
    ]
