"""The fault suite (`make faults`, `python -m prospectpro_dev.faults [--quick] [--only 1,5]`).

Ten scenarios, each on a fresh database of one throwaway cluster with real
worker processes and a loopback endpoint (a fault-injecting sink, or real
receivers behind a round-robin proxy): endpoint down, failing, hanging,
resetting connections; a worker killed mid-round; PostgreSQL stopped
under load; four workers and two receivers; an endpoint that never recovers;
an endpoint down a few seconds under load (the time from its recovery to the
last delivery is reported); failover to a synchronous standby, on a pair of
clusters of its own (the time from promotion to the first delivery is reported).
Every committed event must be delivered exactly once as a successful attempt,
every attempt must be logged, and nothing may be sent before it commits.
"""

from .model import Profile
from .runner import run_suite
from .scenarios import FULL, QUICK, SCENARIOS

__all__ = ["FULL", "QUICK", "SCENARIOS", "Profile", "run_suite"]
