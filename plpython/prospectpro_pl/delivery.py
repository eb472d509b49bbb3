"""One delivery round: claim due events, POST them, record every attempt.

The round runs in the caller's transaction. Claimed events stay row-locked
(FOR UPDATE SKIP LOCKED) until it commits, so concurrent rounds never send the
same attempt twice, and a crash mid-round rolls back to pending events: the
attempt is made again, with the same webhook-id, and nothing is lost.
"""

from __future__ import annotations

import bisect
import time
from datetime import UTC, datetime

from . import campaigns, plans, retry, signing
from .delivery_transport import Request, Transport

# Requests still waiting for a connection this long after the round began are
# left for the next round, which bounds a round by this plus the timeout.
START_WITHIN = 2.0
# An endpoint answering 410 Gone is disabled until an admin re-enables it.
GONE = 410

ENDPOINTS_SQL = "select * from prospectpro._endpoint_config()"

CLAIM_SQL = """
select o.id, o.created_at::text as created_at, o.webhook_id::text as webhook_id,
       o.webhook_type, o.payload::text as body, o.attempts
from prospectpro.outbox as o
where o.status = 'pending'
  and o.next_attempt_at <= $3
  and o.webhook_type = any($1)
  and (o.ordering_key is null or not exists (
      select from prospectpro.outbox as earlier
      where earlier.ordering_key = o.ordering_key
        and earlier.status = 'pending' and earlier.id < o.id))
order by o.next_attempt_at, o.id
limit $2
for update of o skip locked
"""

CLAIM_TYPES = ["text[]", "integer", "timestamptz"]

LOG_SQL = """
insert into prospectpro.delivery_attempts
    (event_id, webhook_id, webhook_type, attempt, status, http_status, error,
     latency_ms, response_excerpt, created_at)
select a.event_id, a.webhook_id, a.webhook_type, a.attempt, a.status,
       a.http_status, a.error, a.latency_ms, a.excerpt, pg_catalog.to_timestamp(a.sent_at)
from unnest($1::bigint[], $2::uuid[], $3::text[], $4::int[], $5::text[],
                       $6::int[], $7::text[], $8::float8[], $9::text[], $10::float8[])
    as a (event_id, webhook_id, webhook_type, attempt, status, http_status, error,
          latency_ms, excerpt, sent_at)
"""

UPDATE_SQL = """
update prospectpro.outbox as o
set status = u.status,
    attempts = o.attempts + 1,
    next_attempt_at = case when u.status = 'pending'
        then pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => u.delay)
        else o.next_attempt_at end,
    delivered_at = case when u.status = 'delivered'
        then pg_catalog.clock_timestamp() end,
    last_error = u.error
from unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::float8[], $5::text[])
    as u (id, created_at, status, delay, error)
where o.id = u.id and o.created_at = u.created_at
"""

# One upsert per round and webhook type, into this backend's slot: concurrent
# rounds add to rows of their own instead of queueing on one.
COUNT_SQL = """
insert into prospectpro.delivery_counters as c
    (webhook_type, slot, succeeded, failed, latency_seconds_sum, latency_buckets)
values ($1, pg_catalog.pg_backend_pid() % 64, $2, $3, $4, $5)
on conflict (webhook_type, slot) do update set
    succeeded = c.succeeded + excluded.succeeded,
    failed = c.failed + excluded.failed,
    latency_seconds_sum = c.latency_seconds_sum + excluded.latency_seconds_sum,
    latency_buckets = array(
        select mine + theirs
        from unnest(c.latency_buckets, excluded.latency_buckets) with ordinality
            as b (mine, theirs, n)
        order by n
    )
"""

COUNT_TYPES = ["text", "bigint", "bigint", "float8", "bigint[]"]

_transport: Transport | None = None
# The latency histogram's upper bounds, from prospectpro.latency_buckets().
_buckets: list[float] | None = None

# What this session's rounds cost, in CPU seconds of the backend per phase:
# pass (the campaigns' counts and milestones, campaigns.run_pass), claim
# (configuration and claim queries), sign (request heads and
# signatures), send (the HTTP exchanges), record (attempt log, outbox and
# breakers). prospectpro.delivery_round_costs() reads it; a worker logs it on exit.
PHASES = ("pass", "claim", "sign", "send", "record")
costs = {"rounds": 0, "events": 0} | dict.fromkeys(PHASES, 0.0)


def endpoints(plpy) -> dict[str, dict]:
    """Effective, deliverable configuration per webhook type.

    The endpoints table wins; the database settings
    (app.<type>_webhook_url, app.webhook_token) are the fallback. A type with
    no valid URL, or whose breaker is disabled (410 Gone), is left out: its
    events wait, pending, until it is configured or re-enabled.
    """
    rows = plans.run(plpy, ENDPOINTS_SQL)
    return {r["webhook_type"]: r for r in rows if r["url"] and r["breaker_state"] != "disabled"}


def deliver_due(plpy, max_events: int) -> int:
    """Run one round; returns how many events were attempted."""
    global _transport
    if max_events is None or max_events < 1 or max_events > 10000:
        plpy.error(
            "max_events must be between 1 and 10000",
            hint="Call prospectpro.deliver_due() or pass a batch size such as 100.",
            sqlstate="22023",
        )
    started = time.thread_time()
    config = endpoints(plpy)

    # The time bound is a parameter, not clock_timestamp(), so that the kept
    # plan can use outbox_due's order and stop after the batch.
    due_by = datetime.now(UTC)

    def claim(webhook_types: list[str], limit: int) -> list:
        return list(plans.run(plpy, CLAIM_SQL, CLAIM_TYPES, [webhook_types, limit, due_by]))

    # A closed breaker sends what is due; an open one a single probe per interval.
    closed = [t for t, c in config.items() if c["breaker_state"] == "closed"]
    events = claim(closed, max_events) if closed else []
    for probing in (t for t, c in config.items() if c["probe_due"]):
        events += claim([probing], 1)
    claimed = time.thread_time()
    costs["rounds"] += 1
    costs["claim"] += claimed - started
    if not events:
        return _campaign_pass(plpy, 0)

    now = int(due_by.timestamp())
    requests = []
    for event in events:
        endpoint = config[event["webhook_type"]]
        body = event["body"].encode()
        requests.append(
            Request(
                url=endpoint["url"],
                headers=signing.headers(
                    event["webhook_id"], now, body, endpoint["token"], endpoint["signing_secret"]
                ),
                body=body,
                timeout=endpoint["timeout_ms"] / 1000.0,
                max_connections=endpoint["max_connections"],
                ca_file=endpoint["ca_file"],
            )
        )
    if _transport is None:
        _transport = Transport()
    # A pool whose endpoint was reconfigured, or whose CA file changed, goes.
    _transport.retain((c["url"], c["ca_file"], c["max_connections"]) for c in config.values())
    signed = time.thread_time()
    outcomes = _transport.post_all(requests, START_WITHIN)
    sent = time.thread_time()
    attempted = _record(plpy, config, events, outcomes)
    _update_breakers(plpy, config, events, outcomes)
    costs["events"] += attempted
    costs["sign"] += signed - claimed
    costs["send"] += sent - signed
    costs["record"] += time.thread_time() - sent
    return _campaign_pass(plpy, attempted)


def _campaign_pass(plpy, attempted: int) -> int:
    """The round's last step: what the writers left to it (campaigns.run_pass).

    Last, so that the campaign rows it locks are held until the round commits,
    not while its requests are in flight; what it queues goes out next round.
    """
    started = time.thread_time()
    try:
        # Its own subtransaction: a pass that fails (a campaign's export, a
        # deadlock on its row) must not roll back the attempts just made,
        # which would send them again; the next round runs the pass again.
        with plpy.subtransaction():
            campaigns.run_pass(plpy)
    except plpy.SPIError as exc:
        plpy.warning(f"prospectpro: the campaign pass failed and waits for the next round: {exc}")
    costs["pass"] += time.thread_time() - started
    return attempted


def _redact(text: str | None, endpoint: dict) -> str | None:
    """Text an endpoint answered, safe to log: an endpoint that echoes the
    request (a debug error page) must not put its token into webhook_logs."""
    if not text:
        return text
    for secret in (endpoint["token"], endpoint["signing_secret"]):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _update_breakers(plpy, config: dict, events: list, outcomes: list) -> None:
    """Count each endpoint's successes and failures of this round into its breaker."""
    tally: dict[str, dict] = {}
    for event, outcome in zip(events, outcomes, strict=True):
        if outcome is None:
            continue
        t = tally.setdefault(event["webhook_type"], {"ok": 0, "failed": 0, "gone": False})
        if outcome.ok:
            t["ok"] += 1
        else:
            t["failed"] += 1
            t["gone"] |= outcome.http_status == GONE
            t["error"] = _redact(outcome.error, config[event["webhook_type"]])
    # Every type is passed: whether its row needs a write is judged there, on
    # the latest committed row, not on the configuration this round read
    # before sending (another round may have counted failures since).
    types = list(tally)
    if not types:
        return
    plans.run(
        plpy,
        "select prospectpro._record_endpoint_outcomes($1, $2, $3, $4, $5, $6, $7)",
        ["text[]", "int[]", "int[]", "bool[]", "int[]", "float8[]", "text[]"],
        [
            types,
            [tally[t]["ok"] for t in types],
            [tally[t]["failed"] for t in types],
            [tally[t]["gone"] for t in types],
            [config[t]["breaker_threshold"] for t in types],
            [config[t]["probe_interval"] for t in types],
            [tally[t].get("error") for t in types],
        ],
    )


def _record(plpy, config: dict, events: list, outcomes: list) -> int:
    """Log each attempt and move its event on: delivered, retried later, or dead."""
    log = {k: [] for k in ("id", "wid", "type", "n", "status", "http", "err", "ms", "ex", "at")}
    upd = {k: [] for k in ("id", "created_at", "status", "delay", "err")}
    for event, outcome in zip(events, outcomes, strict=False):
        if outcome is None:  # never started: not an attempt
            continue
        attempt = event["attempts"] + 1
        endpoint = config[event["webhook_type"]]
        excerpt, error = (_redact(text, endpoint) for text in (outcome.excerpt, outcome.error))
        if outcome.ok:
            status, delay = "delivered", None
        else:
            delay = retry.next_delay(
                attempt,
                list(endpoint["retry_schedule"]),
                endpoint["jitter"],
                retry.parse_retry_after(outcome.retry_after),
            )
            status = "dead" if delay is None else "pending"
        for key, value in zip(
            log,
            (
                event["id"],
                event["webhook_id"],
                event["webhook_type"],
                attempt,
                "success" if outcome.ok else "failed",
                outcome.http_status,
                error,
                outcome.latency_ms,
                excerpt,
                outcome.sent_at,
            ),
            strict=False,
        ):
            log[key].append(value)
        for key, value in zip(
            upd, (event["id"], event["created_at"], status, delay, error), strict=False
        ):
            upd[key].append(value)
    if upd["id"]:
        types = ["bigint[]", "uuid[]", "text[]", "int[]", "text[]", "int[]", "text[]"]
        types += ["float8[]", "text[]", "float8[]"]
        plans.run(plpy, LOG_SQL, types, list(log.values()))
        plans.run(
            plpy,
            UPDATE_SQL,
            ["bigint[]", "timestamptz[]", "text[]", "float8[]", "text[]"],
            list(upd.values()),
        )
        _count(plpy, log["type"], log["status"], log["ms"])
    dead = [i for i, status in zip(upd["id"], upd["status"], strict=True) if status == "dead"]
    if dead:
        # Each webhook system decides what a dead event means for its data.
        plans.run(plpy, "select prospectpro._on_dead($1)", ["bigint[]"], [dead])
    return len(upd["id"])


def tally(bounds: list[float], types: list, statuses: list, latencies_ms: list) -> dict:
    """Per webhook type: successes, failures, latency sum (s) and histogram counts."""
    totals: dict[str, list] = {}
    for webhook_type, status, ms in zip(types, statuses, latencies_ms, strict=True):
        t = totals.setdefault(webhook_type, [0, 0, 0.0, [0] * (len(bounds) + 1)])
        t[0 if status == "success" else 1] += 1
        t[2] += ms / 1000.0
        t[3][bisect.bisect_left(bounds, ms / 1000.0)] += 1
    return totals


def _count(plpy, types: list, statuses: list, latencies_ms: list) -> None:
    """Add this round's attempts to the monotonic counters that /metrics reads."""
    global _buckets
    if _buckets is None:
        _buckets = list(plans.run(plpy, "select prospectpro.latency_buckets() as b")[0]["b"])
    for webhook_type, totals in tally(_buckets, types, statuses, latencies_ms).items():
        plans.run(plpy, COUNT_SQL, COUNT_TYPES, [webhook_type, *totals])
