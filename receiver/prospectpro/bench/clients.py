"""TEMPORARY: the delivery rows for the replaced client and the new ones, in one run,
interleaved (each benchmark runs for every client in turn) on this noisy machine.
(The replaced client delivers nothing to nginx's bodiless 204: not run there.)"""

from __future__ import annotations

from . import delivery, latency, nginx
from .common import Bench, Result, step

CLIENTS = ("h11", "legacy")


def run(bench: Bench) -> list[Result]:
    results = []
    create = bench.database
    for module in (delivery, nginx, latency):
        for client in CLIENTS:
            if module is nginx and client == "legacy":
                continue

            def database(name: str, client: str = client) -> str:
                dsn = create(name)
                bench.cluster.psql(
                    f"alter database {name} set prospectpro.bench_client = '{client}'"
                )
                return dsn

            bench.database = database
            step(f"client {client}")
            try:
                rows = module.run(bench)
            except Exception as exc:
                step(f"{client} {module.__name__} failed: {type(exc).__name__}: {exc}")
                rows = [Result(module.__name__, f"error: {type(exc).__name__}", passed=False)]
            for result in rows:
                result.benchmark = f"[{client}] {result.benchmark}"
                results.append(result)
    bench.database = create
    return results
