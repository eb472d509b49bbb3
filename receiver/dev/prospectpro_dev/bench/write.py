"""Write overhead, one lead per transaction: pgbench, 4 clients, inserting into
prospectpro.enhanced_leads (with the extension's triggers) and into the same
table without them (schema plain), in alternating rounds."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from .common import Bench, Result, alternate, connect, describe, median, step

CAMPAIGNS = 100
# The same table definition, constraints and indexes, and the campaigns
# foreign key, but no triggers.
PLAIN_SQL = f"""
create schema plain;
create table plain.campaigns (like prospectpro.campaigns including all);
create table plain.enhanced_leads (like prospectpro.enhanced_leads including all);
alter table plain.enhanced_leads add foreign key (campaign_id)
    references plain.campaigns (id) on delete cascade;
insert into prospectpro.campaigns (name, target_count)
select 'Campaign ' || n, 1000000 from generate_series(1, {CAMPAIGNS}) as n;
insert into plain.campaigns select * from prospectpro.campaigns;
"""
SCRIPT = f"""\\set cid random(1, {CAMPAIGNS})
\\set n random(1, 1000000000)
insert into {{schema}}.enhanced_leads (campaign_id, business_name, website, phone, address)
values (:cid, 'Business ' || :n, 'https://b' || :n || '.example.com', '+1 555 0100',
        :n || ' Main St');
"""
TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")
DONE = re.compile(r"number of transactions actually processed: (\d+)")
TARGET = 0.70


def with_plain_tables(dsn: str) -> None:
    with connect(dsn) as conn:
        conn.execute(PLAIN_SQL)


def run(bench: Bench) -> list[Result]:
    rounds, seconds = (2, 3) if bench.quick else (5, 8)
    dsn = bench.database("bench_write")
    with_plain_tables(dsn)
    with tempfile.TemporaryDirectory() as tmp:
        scripts = {}
        for schema in ("prospectpro", "plain"):
            scripts[schema] = Path(tmp) / f"{schema}.sql"
            scripts[schema].write_text(SCRIPT.format(schema=schema))

        per_txn: dict[str, list[dict]] = {"triggers": [], "plain": []}

        def pgbench(name: str, schema: str):
            def measure() -> float:
                with bench.observe(dsn, f"write {name}") as usage:
                    out = bench.pgbench(
                        "bench_write", "-n", "-M", "prepared", "-c", "4", "-j", "2",
                        "-T", str(seconds), "-f", str(scripts[schema]),
                    )  # fmt: skip
                per_txn[name].append(usage.per(int(DONE.search(out)[1])))
                return float(TPS.search(out)[1])

            return measure

        step(f"write: pgbench, 4 clients, {rounds} alternating rounds of {seconds} s")
        runs = {"triggers": pgbench("triggers", "prospectpro"), "plain": pgbench("plain", "plain")}
        tps = alternate(rounds, runs, "tps")
    for name, rounds_figures in per_txn.items():
        medians = {key: median([f[key] for f in rounds_figures]) for key in rounds_figures[0]}
        step(f"  per {name} transaction (medians): {describe(medians)}")
    bench.top_statements(dsn, "write")
    bench.drop("bench_write")
    triggers, plain = median(tps["triggers"]), median(tps["plain"])
    ratio = triggers / plain
    return [
        Result(
            "write overhead, 1 lead/txn (pgbench 4 clients)",
            f"{triggers:.0f} vs {plain:.0f} tps = {ratio:.2f}x plain",
            f">= {TARGET:.2f}x",
            ratio >= TARGET,
            {"tps": tps, "ratio": ratio, "per_transaction": per_txn, "seconds": seconds},
        )
    ]
