"""python -m prospectpro_dev.bench: run the benchmarks, print one table.

Figures are medians of repetitions and ratios between runs of the same
invocation; the table is also written as JSON to .bench/.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

from ..processes import interrupt_on_sigterm
from .common import PRODUCTION_SETTINGS, Result, bench_cluster, step, table

BENCHMARKS = ["sink", "write", "sustained", "bulk", "delivery", "nginx", "latency", "costs"]
BENCHMARKS += ["receiver", "history"]
# Run only when named: the soak takes an hour by itself (--minutes), the
# instruction counts need valgrind, and the transports compare designs.
OPT_IN = ["soak", "instructions", "transports"]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m prospectpro_dev.bench", description=__doc__)
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {BENCHMARKS}"
    )
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test")
    parser.add_argument(
        "--minutes",
        type=float,
        help="how long the soak runs (default 60; --quick: 2), reported in 12 intervals",
    )
    parser.add_argument(
        "--profile", action="store_true", help="enable pg_stat_statements; print top statements"
    )
    parser.add_argument("--out", type=Path, default=Path(".bench"), help="JSON output directory")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    if args.minutes is not None and not 0.5 <= args.minutes <= 24 * 60:
        parser.error("--minutes must be between 0.5 and 1440 (60 for the hour's soak)")
    unknown = set(args.only) - set(BENCHMARKS + OPT_IN)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {BENCHMARKS + OPT_IN}")
    return args


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True)
    return out.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    results = []
    step(f"starting a throwaway cluster: {PRODUCTION_SETTINGS}")
    interrupt_on_sigterm()
    try:
        with bench_cluster(args.quick, args.profile, args.minutes) as bench:
            for name in [b for b in BENCHMARKS + OPT_IN if b in args.only]:
                try:
                    results += importlib.import_module(f".{name}", __package__).run(bench)
                except Exception as exc:  # the other benchmarks still run
                    step(f"{name} failed: {type(exc).__name__}: {exc}")
                    results.append(Result(name, f"error: {type(exc).__name__}", passed=False))
    except KeyboardInterrupt:
        print("\ninterrupted: everything the bench started has been stopped", flush=True)
        return 130
    print()
    print(table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = {
        "commit": _git("rev-parse", "HEAD"),
        "uncommitted_files": len(_git("status", "--porcelain").splitlines()),
        "quick": args.quick,
        "settings": PRODUCTION_SETTINGS,
        "results": [vars(r) for r in results],
    }
    for path in (args.out / f"bench-{stamp}.json", args.out / "latest.json"):
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwritten to {args.out / f'bench-{stamp}.json'}")
    return 0  # a missed target is a finding, shown in the table, not an error


if __name__ == "__main__":
    sys.exit(main())
