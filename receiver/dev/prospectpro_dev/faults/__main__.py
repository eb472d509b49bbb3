"""python -m prospectpro_dev.faults [--quick] [--only 1,5]"""

from __future__ import annotations

import argparse
import sys

from ..processes import interrupt_on_sigterm
from . import __doc__ as overview
from .report import exit_status, render
from .runner import run_suite
from .scenarios import FULL, QUICK, SCENARIOS


def numbers(text: str) -> set[int]:
    chosen = {int(part) for part in text.split(",") if part.strip()}
    known = {s.number for s in SCENARIOS}
    if not chosen or chosen - known:
        raise argparse.ArgumentTypeError(f"scenarios are numbered {min(known)} to {max(known)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m prospectpro_dev.faults",
        description=overview,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="the shortened form run in CI")
    parser.add_argument("--only", type=numbers, help="comma-separated scenario numbers")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    print(f"fault suite, {profile.name} form", flush=True)
    interrupt_on_sigterm()
    try:
        results = run_suite(profile, args.only, say=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("\ninterrupted: everything the fault suite started has been stopped", flush=True)
        return 130
    print("\n" + render(results), flush=True)
    return exit_status(results)


if __name__ == "__main__":
    sys.exit(main())
