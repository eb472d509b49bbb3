"""What a fault run is made of: its profile (quick or full), its scenarios,
and the batches of events a scenario commits."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .harness import Env


class ScenarioFailed(Exception):
    """A step of a scenario did not come about in time."""


@dataclass
class Batch:
    webhook_ids: list[str]
    commit_started: float = math.inf  # time.time() just before COMMIT was sent
    committed: bool = False


@dataclass(frozen=True)
class Profile:
    name: str
    events: int  # events per scenario
    outage: float  # seconds an endpoint stays down, failing, hanging or resetting
    schedule: tuple[float, ...]  # a retry schedule that outlasts the outage
    hang_timeout_ms: int
    probe_interval: float  # seconds between the probes of an open circuit breaker
    kills: int
    db_outage: float
    crowd: int  # events of the four-worker, two-receiver scenario
    dead_schedule: tuple[float, ...]  # the schedule of the endpoint that never recovers
    settle: float  # longest wait for the outbox to drain


@dataclass(frozen=True)
class Scenario:
    number: int
    title: str  # formatted with the profile as p
    body: Callable[[Env], None]
    at_least_once: bool = False  # the fault may roll back rounds after their POSTs
