"""Delivery against real HTTP servers no one here wrote (issue 12, item 6).

Each row starts (once per module) a real server on 127.0.0.1, has
`prospectpro.deliver_due` deliver 200 events to one of its answers, and checks
on the server's side, from its own request log, matched by webhook-id:
- every event arrived exactly once and was delivered, the answer read as the
  server meant it (status and body in webhook_logs);
- over at most MAX_CONNECTIONS reused connections where the server keeps
  connections alive, one connection per request where it does not;
- a redirect is a failed attempt naming its Location, not followed.

Select with `pytest -m interop`.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import dataclass

import pytest
from conftest import wait_until
from interop import servers

pytestmark = pytest.mark.interop

EVENTS = 200
MAX_CONNECTIONS = 4
TIMEOUT_MS = 2000
RETRIES = [0.1, 0.1]
# The circuit breaker is not what these rows measure: it never opens here.
# Delivery rounds stop after this long even when events still wait.
DEADLINE = 15.0

RECEIVED = '{{"received": "{id}"}}'


@dataclass(frozen=True)
class Row:
    id: str
    server: str  # the fixture yielding its Endpoint
    path: str  # the answer it gives there
    status: int
    body: str | None  # what it sends, "{id}" standing for the request's webhook-id
    keep_alive: bool  # whether it keeps connections open for further requests ("keeps")


# fmt: off
ROWS = [
    #   id                           server            path         status body             keeps
    Row("nginx-200-body",            "nginx",          "/body",     200,   RECEIVED,        True),
    Row("nginx-202",                 "nginx",          "/accepted", 202,   None,            True),
    Row("nginx-204",                 "nginx",          "/empty",    204,   None,            True),
    Row("nginx-keepalive_timeout-0", "nginx_closing",  "/body",     200,   RECEIVED,        False),
    Row("nginx-https-private-ca",    "nginx_tls",      "/body",     200,   RECEIVED,        True),
    Row("nginx-301",                 "nginx",          "/moved",    301,   None,            True),
    Row("node-204",                  "node",           "/empty",    204,   None,            True),
    Row("node-103-early-hints",      "node",           "/hints",    200,   RECEIVED,        True),
    Row("node-chunked-trailers",     "node",           "/trailers", 200,   "received {id}", True),
    Row("http.server-1.0",           "http_server_10", "/unframed", 200,   RECEIVED,        False),
    Row("http.server-1.1-204",       "http_server_11", "/empty",    204,   None,            True),
    Row("http.server-1.1-200",       "http_server_11", "/body",     200,   RECEIVED,        True),
    Row("uvicorn-200",               "uvicorn",        "/body",     200,   RECEIVED,        True),
    Row("uvicorn-204",               "uvicorn",        "/empty",    204,   None,            True),
    Row("hypercorn-200",             "hypercorn",      "/body",     200,   RECEIVED,        True),
    Row("hypercorn-204",             "hypercorn",      "/empty",    204,   None,            True),
]
# fmt: on


@pytest.fixture(scope="module")
def nginx_listeners():
    with servers.nginx() as listeners:
        yield listeners


@pytest.fixture
def nginx(nginx_listeners):
    return nginx_listeners["keep-alive"]


@pytest.fixture
def nginx_closing(nginx_listeners):
    return nginx_listeners["closing"]


@pytest.fixture
def nginx_tls(nginx_listeners):
    return nginx_listeners["tls"]


@pytest.fixture(scope="module")
def node():
    with servers.node() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def http_server_10():
    with servers.http_server("HTTP/1.0") as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def http_server_11():
    with servers.http_server("HTTP/1.1") as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def uvicorn():
    with servers.asgi("uvicorn") as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def hypercorn():
    with servers.asgi("hypercorn") as endpoint:
        yield endpoint


def configure(db, url: str, ca_file=None) -> None:
    tls = ", ca_file => %(ca_file)s" if ca_file else ""
    db.execute(
        "select prospectpro.configure_endpoint('lead_enrichment', %(url)s, 'interop-token',"
        " retry_schedule => %(retries)s, timeout_ms => %(timeout)s,"
        " max_connections => %(connections)s, breaker_threshold => 10000"
        f"{tls})",
        {
            "url": url,
            "retries": RETRIES,
            "timeout": TIMEOUT_MS,
            "connections": MAX_CONNECTIONS,
            "ca_file": str(ca_file),
        },
    )


def pending(db) -> bool:
    return db.execute(
        "select exists (select from prospectpro.outbox where status = 'pending')"
    ).fetchone()[0]


def deliver_everything(db, events: int = EVENTS) -> list[str]:
    """Emit ``events`` events and run delivery rounds until none is pending
    (or DEADLINE passed); returns their webhook-ids."""
    db.execute(
        "select prospectpro._emit('lead_enrichment', jsonb_build_object('n', n))"
        " from generate_series(1, %s) as n",
        (events,),
    )
    ids = [r[0] for r in db.execute("select webhook_id::text from prospectpro.outbox")]
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline and pending(db):
        if db.execute("select prospectpro.deliver_due(%s)", (EVENTS,)).fetchone()[0] == 0:
            time.sleep(0.05)  # the next retry is not due yet
    return ids


def attempts(db) -> list[tuple]:
    return db.execute(
        "select webhook_id::text, status, http_status, error, response_excerpt"
        " from prospectpro.webhook_logs order by 1, attempt"
    ).fetchall()


def arrivals(endpoint: servers.Endpoint, ids: list[str], expected: int) -> list:
    """The server's record of these events' requests, once it holds
    ``expected`` of them or stopped growing (nginx logs after answering)."""
    wanted = set(ids)

    def ours():
        return [a for a in endpoint.arrivals() if a.webhook_id in wanted]

    with contextlib.suppress(TimeoutError):
        wait_until(lambda: len(ours()) >= expected, timeout=2)
    return ours()


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_each_event_reaches_the_server_once_read_as_it_meant(row, request, db):
    endpoint = request.getfixturevalue(row.server)
    configure(db, endpoint.url(row.path), endpoint.ca_file)
    ids = deliver_everything(db)

    outcomes = dict(
        db.execute("select status, count(*) from prospectpro.outbox group by status").fetchall()
    )
    logged = attempts(db)
    seen = arrivals(endpoint, ids, len(logged))
    connections = Counter(a.connection for a in seen)
    errors = Counter(error for _, _, _, error, _ in logged if error)
    print(
        f"{row.id}: delivered {outcomes.get('delivered', 0)}/{EVENTS}, attempts {len(logged)},"
        f" connections {len(connections)}, outcomes {outcomes}, errors {dict(errors)}"
    )

    # The server and webhook_logs agree: every attempt arrived, none twice,
    # and nothing arrived that was not an attempt.
    assert Counter(a.webhook_id for a in seen) == Counter(w for w, *_ in logged), errors
    assert {a.path for a in seen} == {row.path}

    if 200 <= row.status < 300:
        assert outcomes == {"delivered": EVENTS}, errors
        expected = [
            (i, "success", row.status, None, row.body and row.body.format(id=i))
            for i in sorted(ids)
        ]
        assert logged == expected
    else:  # a redirect: every attempt failed, naming where it points; none followed
        location = endpoint.url("/landing")
        assert outcomes == {"dead": EVENTS}
        assert len(logged) == EVENTS * (len(RETRIES) + 1)
        for _, status, http_status, error, excerpt in logged:
            assert (status, http_status) == ("failed", row.status)
            assert location in f"{error} {excerpt}", (error, excerpt)
        assert not [a for a in endpoint.arrivals() if a.path == "/landing"]

    per_connection = f"{len(seen)} requests on {len(connections)} connections"
    if row.keep_alive:
        assert len(connections) <= MAX_CONNECTIONS, per_connection
    else:
        assert set(connections.values()) == {1}, per_connection


@pytest.mark.parametrize(
    ("host", "trusted"),
    [("127.0.0.1", False), ("localhost", True)],
    ids=["unknown-ca", "wrong-name"],
)
def test_a_certificate_that_does_not_check_out_is_a_failed_attempt_naming_why(
    host, trusted, nginx_tls, db
):
    """Signed by a CA the endpoint does not trust (the system store does not
    know the throwaway one), or for another name (issued to 127.0.0.1 only)."""
    url = nginx_tls.url("/body").replace("127.0.0.1", host)
    configure(db, url, nginx_tls.ca_file if trusted else None)
    ids = deliver_everything(db, events=10)

    logged = attempts(db)
    assert len(logged) == len(ids) * (len(RETRIES) + 1)
    for _, status, http_status, error, _ in logged:
        assert (status, http_status) == ("failed", None)
        assert "certificate" in error.lower(), error
    assert not [a for a in nginx_tls.arrivals() if a.webhook_id in ids]


def test_a_rotated_ca_file_is_trusted_from_the_next_round(db):
    """A CA rotation in one database session: nginx serves a certificate from a
    new CA, and the endpoint's ca_file, at the same path, names that CA. The
    session's connection pool reads it again; every event is delivered at its
    first attempt, before and after."""
    with servers.nginx() as listeners:
        tls = listeners["tls"]
        configure(db, tls.url("/body"), tls.ca_file)
        deliver_everything(db, events=10)
        servers.rotate_ca(tls)
        deliver_everything(db, events=10)
    logged = attempts(db)
    assert [(status, error) for _, status, _, error, _ in logged] == [("success", None)] * 20
