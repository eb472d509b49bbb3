"""The table printed at the end of a run, its legend, and the exit status."""

from __future__ import annotations

from .verify import Result

COLUMNS = [
    ("committed", "committed"), ("delivered", "delivered"), ("dead", "dead"),
    ("duplicates", "duplicates"), ("lost", "lost"), ("resent", "resent"),
    ("unlogged", "unlogged"),
]  # fmt: skip

LEGEND = """\
committed   events whose transaction committed. One transaction per scenario is held
            open across the fault: none of its events may reach the endpoint before it
            commits (no event may, checked by arrival time against commit time); in 6
            and 10 the crash rolls it back, and then none of its events may exist or
            be sent
delivered   events delivered: status delivered, a success row in webhook_logs, and a
            2xx answer from the endpoint for their webhook-id
dead        events dead after their last attempt (8: all of them, before one
            redeliver() call brought them back once the endpoint recovered)
duplicates  events with more than one success row in webhook_logs (must be 0)
lost        committed events not delivered (must be 0)
resent      redeliveries seen by the endpoint: a webhook-id answered 2xx more than
            once. At-least-once behaviour, allowed: a round rolled back after its POSTs
            (5: a worker's backend terminated mid-round; 6: the server stopped
            mid-round; 10: the primary killed mid-round, so the round never reached the
            standby) leaves its events due again with the same webhook-id, and a 2xx
            arriving after the timeout (3) is a failed attempt; receivers drop
            duplicates by webhook-id. A SIGKILLed worker's backend finishes its round
            and commits it, so that case resends nothing
unlogged    requests the endpoint received that have no webhook_logs row: the POSTs of
            rolled-back rounds (allowed in 5, 6 and 10 only). Everywhere else, per event:
            attempts logged with an HTTP status <= requests received <= those plus the
            attempts logged as timeouts or resets (a refused connection never arrives)
"""


def render(results: list[Result]) -> str:
    width = max([len(r.title) for r in results] + [8]) + 3
    head = f"{'scenario':<{width}}" + "".join(f"{h:>11}" for _, h in COLUMNS)
    lines = [head + f"{'seconds':>9}  result", "-" * (len(head) + 17)]
    for r in results:
        cells = "".join(f"{getattr(r, key):>11}" for key, _ in COLUMNS)
        verdict = "ok" if r.ok else "FAILED"
        lines.append(f"{f'{r.number} {r.title}':<{width}}{cells}{r.seconds:>9.1f}  {verdict}")
    for r in results:
        lines += [f"scenario {r.number}: {problem}" for problem in r.problems]
    return "\n".join([*lines, "", LEGEND])


def exit_status(results: list[Result]) -> int:
    """Non-zero when any scenario lost or duplicated an event, or went wrong otherwise."""
    return 0 if results and all(r.ok for r in results) else 1
