"""Run scenarios on one throwaway cluster: body, drain, stop the workers,
verify; one result each."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..cluster import Cluster
from .harness import TEMPLATE, Env
from .model import Profile, Scenario
from .scenarios import SCENARIOS
from .verify import Result, verify


@dataclass
class Suite:
    """A throwaway cluster with a template database, and a runner of scenarios."""

    profile: Profile
    say: Callable[[str], None] = print
    cluster: Cluster = field(default_factory=Cluster)

    def __enter__(self) -> Suite:
        self.cluster.__enter__()
        try:
            self.cluster.create_database(TEMPLATE)
        except BaseException:
            self.cluster.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cluster.__exit__(*exc)

    @contextlib.contextmanager
    def env(self, scenario: Scenario) -> Iterator[Env]:
        env = Env(self.cluster, self.profile, scenario, self.say)
        try:
            yield env
        finally:
            env.close()


def run_scenario(suite: Suite, scenario: Scenario) -> Result:
    started = time.monotonic()
    title = scenario.title.format(p=suite.profile)
    suite.say(f"[{scenario.number}/{len(SCENARIOS)}] {title}")
    with suite.env(scenario) as env:
        try:
            scenario.body(env)
            env.settle()
            env.check_expected()
        except Exception as exc:
            env.problem(f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(Exception):  # recover, to count what is left
                env.sink.up()
                env.sink.cycle()
                env.settle()
        env.stop_workers()
        try:
            result = verify(env)
        except Exception as exc:
            result = Result(scenario.number, title, problems=[*env.problems, repr(exc)])
    result.seconds = time.monotonic() - started
    suite.say(
        f"    {'ok' if result.ok else 'FAILED'}: {result.committed} committed,"
        f" {result.delivered} delivered, {result.lost} lost, {result.duplicates} duplicates"
        f" in {result.seconds:.1f} s"
    )
    return result


def run_suite(
    profile: Profile, only: set[int] | None = None, say: Callable[[str], None] = print
) -> list[Result]:
    """Every scenario (or those numbered in ``only``) on one throwaway cluster."""
    with Suite(profile, say) as suite:
        return [run_scenario(suite, s) for s in SCENARIOS if not only or s.number in only]
