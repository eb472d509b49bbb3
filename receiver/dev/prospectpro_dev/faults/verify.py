"""The checks made after every scenario, comparing three witnesses: the
batches the harness committed (or saw rolled back), the outbox and
webhook_logs, and the ledger of the sink (or proxy) that received the POSTs."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from .harness import Env

# Per event: final status, success rows, logged attempts that got an HTTP
# answer (so certainly reached the endpoint), and those that timed out or were
# reset (which reached it, or died on the way: a connect or pool timeout, a
# connection dropped before the request was read). Refused connections never
# reach it.
EVENTS_SQL = """
select o.webhook_id::text, o.status,
       count(a.id) filter (where a.status = 'success'),
       count(a.id) filter (where a.http_status is not null),
       count(a.id) filter (where a.http_status is null
           and (a.error like 'timeout%' or a.error like 'connection reset%'))
from prospectpro.outbox as o
left join prospectpro.webhook_logs as a on a.event_id = o.id
group by o.id, o.webhook_id, o.status
"""


@dataclass
class Result:
    number: int
    title: str
    committed: int = 0
    delivered: int = 0
    dead: int = 0
    duplicates: int = 0
    lost: int = 0
    resent: int = 0
    unlogged: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicates or self.problems)


def verify(env: Env) -> Result:
    events = {row[0]: row[1:] for row in env.sql(EVENTS_SQL)}
    ledger = env.ledger
    n: Counter[str] = Counter()
    for batch in env.batches:
        for wid in batch.webhook_ids:
            if not batch.committed:
                n["ghosts"] += wid in events or wid in ledger.requests
                continue
            status, successes, answered, maybe = events.get(wid, (None, 0, 0, 0))
            requests = ledger.requests[wid]
            delivered = status == "delivered" and successes >= 1 and ledger.acked[wid] >= 1
            n["committed"] += 1
            n["delivered"] += delivered
            n["lost"] += not delivered
            n["dead"] += status == "dead"
            n["duplicates"] += successes > 1
            n["resent"] += max(ledger.acked[wid] - 1, 0)
            n["unlogged"] += max(requests - answered - maybe, 0)
            n["phantom"] += requests < answered
            n["early"] += ledger.first.get(wid, math.inf) < batch.commit_started
    known = {wid for batch in env.batches for wid in batch.webhook_ids}
    n["unknown"] = len(events.keys() - known)

    problems = list(env.problems)
    complaints = {
        "ghosts": "events of rolled-back transactions exist or were sent",
        "phantom": "events have logged HTTP answers that the endpoint never gave",
        "early": "events reached the endpoint before their transaction committed",
        "unknown": "events in the outbox were written by no batch of the scenario",
    }
    if not env.scenario.at_least_once:
        complaints["unlogged"] = "requests reached the endpoint without a webhook_logs row"
    problems += [f"{n[key]} {text}" for key, text in complaints.items() if n[key]]
    return Result(
        number=env.scenario.number,
        title=env.scenario.title.format(p=env.p),
        committed=n["committed"],
        delivered=n["delivered"],
        dead=n["dead"] + env.dead,
        duplicates=n["duplicates"],
        lost=n["lost"],
        resent=n["resent"],
        unlogged=n["unlogged"],
        problems=problems,
    )
