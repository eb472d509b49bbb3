"""Secrets and privileges: endpoint tokens and signing secrets are readable by
the extension's owner and prospectpro_admin only, and appear nowhere else (not
in webhook_logs, the server log, error messages, or the receiver's answers);
every SECURITY DEFINER function pins its search_path; each documented role has
exactly its documented privileges; the receiver compares tokens in constant
time. (The Standard Webhooks replay window is tested in test_receiver.py.)"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import os
import textwrap

import httpx
import psycopg
import pytest
from prospectpro import auth, pipeline
from prospectpro_dev.sink import Answer, Received, Sink

TOKEN = "tok-5ec7e7-do-not-leak"
SECRET = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LWRvLW5vdC1sZWFrIQ=="
SECRETS = (TOKEN, SECRET, SECRET.removeprefix("whsec_"))
ROLES = ("reader", "writer", "worker", "admin")
_serial = itertools.count()

# What 900_privileges.sql grants, role by role: anything more (or less) fails.
READABLE = {
    "campaigns", "enhanced_leads", "api_costs", "outbox", "webhook_logs", "settings",
    "applied_deliveries", "campaign_stats", "campaign_exports", "campaign_transitions",
    "campaign_lifecycle_log", "campaign_lifecycle_dashboard", "cost_thresholds",
    "cost_settings", "cost_windows", "cost_alerts", "cost_alert_history",
    "webhook_success_rates", "delivery_queue", "delivery_latency", "endpoint_status",
    "campaign_lead_counts", "campaign_lifecycle_events", "history_partitions",
    "delivery_counters",
}  # fmt: skip
WRITE = {"SELECT", "INSERT", "UPDATE", "DELETE"}
TABLE_GRANTS = {
    "prospectpro_reader": {(name, "SELECT") for name in READABLE},
    "prospectpro_writer": {
        (name, p) for name in ("campaigns", "enhanced_leads", "api_costs") for p in WRITE
    },
    "prospectpro_worker": set(),
    "prospectpro_admin": {("endpoints", p) for p in WRITE},
}
EXECUTE_GRANTS = {
    # The dashboard view's figures (both helpers are security invoker).
    # endpoint_status checks the URL of the database-setting fallback with these.
    "prospectpro_reader": {
        "campaign_spend", "campaign_lead_total", "endpoint_url_problem", "endpoint_setting_url",
        "latency_buckets",
    },
    "prospectpro_writer": {"apply_enrichment", "apply_enrichment_batch", "set_campaign_status"},
    "prospectpro_worker": {
        "deliver_due", "next_due_in", "arm_wakeup", "disarm_wakeup", "run_delivery",
        "delivery_deadline", "delivery_pause", "delivery_round_costs", "maintain_partitions",
    },
    "prospectpro_admin": {
        "configure_endpoint", "enable_endpoint", "redeliver", "schedule_delivery",
        "configure_scoring", "set_cost_threshold", "set_api_rate_limit",
        "configure_anomaly_detection", "acknowledge_alert", "resolve_alert",
        "resolve_expired_alerts", "rebuild_cost_windows", "prune", "discard",
        "schedule_maintenance", "retention_cutoff", "expired_partitions", "drop_expired_partition",
        "prune_default_batch", "prune_cost_windows", "maintain_partitions",
        "configure_partitions",
    },
}  # fmt: skip

GRANTS_SQL = """
select r.rolname, c.relname, a.privilege_type
from pg_class as c
cross join lateral aclexplode(c.relacl) as a
join pg_roles as r on r.oid = a.grantee
where c.relnamespace = 'prospectpro'::regnamespace and r.rolname = any(%s)
"""
EXECUTE_SQL = """
select r.rolname, p.proname
from pg_proc as p
cross join lateral aclexplode(p.proacl) as a
join pg_roles as r on r.oid = a.grantee
where p.pronamespace = 'prospectpro'::regnamespace and r.rolname = any(%s)
"""


# -- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="module")
def login_roles(cluster):
    """Login roles: 'nobody' with no grant at all, and one member of each
    documented role. Roles are cluster-wide: dropped after the module."""
    suffix = f"{os.getpid()}"
    names = {"nobody": f"sec_nobody_{suffix}"}
    names.update({role: f"sec_{role}_{suffix}" for role in ROLES})
    for role, name in names.items():
        cluster.psql(f"create role {name} login")
        if role != "nobody":
            cluster.psql(f"grant prospectpro_{role} to {name}")
    yield names
    for name in names.values():
        cluster.psql(f"drop role {name}")


@pytest.fixture
def connect_as(dsn):
    """connect_as(role) -> an autocommit connection as that login role (Unix
    socket, trust authentication)."""
    conns: list[psycopg.Connection] = []

    def connect(user: str) -> psycopg.Connection:
        conn = psycopg.connect(dsn, user=user, autocommit=True)
        conns.append(conn)
        return conn

    yield connect
    for conn in conns:
        conn.close()


@pytest.fixture
def configured(db):
    """Every endpoint configured with the secrets, and data in every table."""
    for webhook_type in ("lead_enrichment", "cost_alert", "campaign_lifecycle"):
        db.execute(
            "select prospectpro.configure_endpoint(%s, 'http://127.0.0.1:9/hook', %s, %s)",
            (webhook_type, TOKEN, SECRET),
        )
    db.execute("insert into prospectpro.campaigns (id, name) values (1, 'Security')")
    db.execute(
        "insert into prospectpro.enhanced_leads (campaign_id, business_name) values (1, 'Cafe')"
    )
    db.execute("select prospectpro.deliver_due()")  # refused connection: a failed attempt
    return db


def error_of(conn: psycopg.Connection, sql: str, params=None) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(sql, params)
    return caught.value


def error_text(error: psycopg.Error) -> str:
    diag = error.diag
    return " ".join(
        str(part)
        for part in (
            error,
            diag.message_primary,
            diag.message_detail,
            diag.message_hint,
            diag.context,
            diag.internal_query,
        )
        if part
    )


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a secret appears in {where}"


def log_offset(cluster) -> int:
    return cluster.log.stat().st_size


def log_since(cluster, offset: int) -> str:
    with open(cluster.log, "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


# -- who can read the secrets ----------------------------------------------


def test_a_role_without_grants_can_read_and_run_nothing(configured, login_roles, connect_as):
    nobody = connect_as(login_roles["nobody"])
    relations = [
        name
        for (name,) in configured.execute(
            "select relname from pg_class where relnamespace = 'prospectpro'::regnamespace"
            " and relkind in ('r', 'v', 'm', 'p')"
        )
    ]
    assert {"endpoints", "outbox", "webhook_logs", "delivery_attempts"} <= set(relations)
    for relation in relations:
        error = error_of(nobody, f"select * from prospectpro.{relation}")
        assert error.sqlstate == "42501", relation
    for statement in (
        "select * from prospectpro._endpoint_config()",
        "select prospectpro.configure_endpoint('cost_alert', 'http://127.0.0.1:9/x', 'mine')",
        "select prospectpro.deliver_due()",
        "select prospectpro.redeliver('cost_alert')",
    ):
        assert error_of(nobody, statement).sqlstate == "42501", statement
    # Not even through a function PUBLIC might run: PUBLIC runs nothing.
    public = configured.execute(
        "select p.oid::regprocedure::text from pg_proc as p"
        " where p.pronamespace = 'prospectpro'::regnamespace"
        " and has_function_privilege('public', p.oid, 'execute')"
    ).fetchall()
    assert public == []
    assert configured.execute(
        "select has_schema_privilege(%s, 'prospectpro', 'usage')", (login_roles["nobody"],)
    ).fetchone() == (False,)


@pytest.mark.parametrize("role", ["reader", "writer", "worker"])
def test_documented_roles_other_than_admin_never_see_a_secret(
    configured, login_roles, connect_as, role
):
    conn = connect_as(login_roles[role])
    assert error_of(conn, "select token from prospectpro.endpoints").sqlstate == "42501"
    assert error_of(conn, "select * from prospectpro._endpoint_config()").sqlstate == "42501"
    # Everything this role can read, read in full: no secret in any of it.
    read, unreadable = read_everything(conn)
    for relation, rows in read.items():
        assert_no_secret(rows, f"prospectpro.{relation} as {role}")
    if role == "reader":
        assert set(read) | set(unreadable) == READABLE
        assert "webhook_logs" in read and "endpoint_status" in read
        attempts = conn.execute("select count(*) from prospectpro.webhook_logs").fetchone()[0]
        assert attempts >= 2  # the logs were read, and had something in them


def test_a_reader_can_read_every_relation_granted_to_it(configured, login_roles, connect_as):
    _, unreadable = read_everything(connect_as(login_roles["reader"]))
    assert unreadable == {}


def read_everything(conn: psycopg.Connection) -> tuple[dict[str, str], dict[str, str]]:
    """Every relation of the schema the connected role may select from, as JSON
    text; and those that fail all the same, with the error."""
    granted = conn.execute(
        "select c.relname from pg_class as c"
        " where c.relnamespace = 'prospectpro'::regnamespace and c.relkind in ('r', 'p', 'v', 'm')"
        " and has_table_privilege(c.oid, 'select')"
    ).fetchall()
    read, unreadable = {}, {}
    for (relation,) in granted:
        try:
            read[relation] = conn.execute(
                f"select coalesce(jsonb_agg(to_jsonb(t))::text, '')"
                f" from prospectpro.{relation} as t"
            ).fetchone()[0]
        except psycopg.errors.InsufficientPrivilege as exc:
            unreadable[relation] = str(exc)
    return read, unreadable


def test_the_owner_and_admins_read_and_set_secrets(configured, login_roles, connect_as):
    admin = connect_as(login_roles["admin"])
    tokens = admin.execute(
        "select token, signing_secret from prospectpro.endpoints where webhook_type = 'cost_alert'"
    ).fetchone()
    assert tokens == (TOKEN, SECRET)
    admin.execute(
        "select prospectpro.configure_endpoint('cost_alert', 'http://127.0.0.1:9/x', 'rotated')"
    )
    owner = configured.execute(
        "select token from prospectpro._endpoint_config() where webhook_type = 'cost_alert'"
    ).fetchone()
    assert owner == ("rotated",)


# -- each role's privileges, exactly ------------------------------------------


def test_each_role_has_exactly_its_documented_grants(db):
    roles = list(TABLE_GRANTS)
    tables: dict[str, set] = {role: set() for role in roles}
    for role, relation, privilege in db.execute(GRANTS_SQL, (roles,)):
        tables[role].add((relation, privilege))
    assert tables == TABLE_GRANTS
    functions: dict[str, set] = {role: set() for role in roles}
    for role, function in db.execute(EXECUTE_SQL, (roles,)):
        functions[role].add(function)
    assert functions == EXECUTE_GRANTS
    members = db.execute(
        "select pg_has_role('prospectpro_admin', r, 'member') from unnest(%s::text[]) as r",
        (["prospectpro_reader", "prospectpro_writer", "prospectpro_worker"],),
    ).fetchall()
    assert members == [(True,)] * 3
    for role in roles:
        admin, login = db.execute(
            "select pg_has_role(%s, 'prospectpro_admin', 'member'), rolcanlogin"
            " from pg_roles where rolname = %s",
            (role, role),
        ).fetchone()
        assert (admin, login) == (role == "prospectpro_admin", False), role


def test_roles_do_what_they_are_documented_to_do(configured, login_roles, connect_as):
    """Behaviour, not only the catalog: each statement either works or is refused."""
    allowed_for = {
        # writer: write campaigns, leads and costs; apply enrichment; change status
        "insert into prospectpro.campaigns (id, name) values (%(n)s, 'w')": {"writer", "admin"},
        "insert into prospectpro.enhanced_leads (campaign_id, business_name) values (1, 'x')": {
            "writer",
            "admin",
        },
        "insert into prospectpro.api_costs (campaign_id, api_name, cost) values (1, 'x', 0.01)": {
            "writer",
            "admin",
        },
        "update prospectpro.enhanced_leads set phone = '1' where campaign_id = 1": {
            "writer",
            "admin",
        },
        "select prospectpro.apply_enrichment(gen_random_uuid(), 1, 'stage1')": {"writer", "admin"},
        # reader: read the tables and the monitoring views
        "select count(*) from prospectpro.webhook_logs": {"reader", "admin"},
        "select count(*) from prospectpro.delivery_queue": {"reader", "admin"},
        "select count(*) from prospectpro.endpoint_status": {"reader", "admin"},
        "select count(*) from prospectpro.outbox": {"reader", "admin"},
        # worker: delivery rounds
        "select prospectpro.deliver_due()": {"worker", "admin"},
        "select prospectpro.next_due_in()": {"worker", "admin"},
        # admin: endpoints, their secrets, redelivery, thresholds
        "select count(token) from prospectpro.endpoints": {"admin"},
        "select prospectpro.redeliver('cost_alert')": {"admin"},
        "select prospectpro.set_cost_threshold('daily_spend', 99)": {"admin"},
        "select prospectpro.enable_endpoint('cost_alert')": {"admin"},
        # nobody writes the outbox or the attempt log directly
        "insert into prospectpro.outbox (webhook_type, payload) values ('cost_alert', '{}')": set(),
        "delete from prospectpro.delivery_attempts": set(),
        "select prospectpro._emit('cost_alert', '{}')": set(),
    }
    for role in ROLES:
        conn = connect_as(login_roles[role])
        for statement, allowed in allowed_for.items():
            params = {"n": 1000 + next(_serial)} if "%(n)s" in statement else None
            try:
                with conn.transaction(force_rollback=True):
                    conn.execute(statement, params)
                refused = None
            except psycopg.errors.InsufficientPrivilege as exc:
                refused = exc
            assert (refused is None) == (role in allowed), (role, statement, refused)


def test_the_procedures_run_for_the_roles_that_are_granted_them(
    configured, login_roles, connect_as
):
    """run_delivery and prune commit, so they run outside a transaction block,
    as the worker's and the admin's pg_cron jobs would run them."""
    calls = {
        "call prospectpro.run_delivery(0)": {"worker", "admin"},
        "call prospectpro.prune(interval '7 days')": {"admin"},
    }
    for role in ROLES:
        conn = connect_as(login_roles[role])
        for statement, allowed in calls.items():
            try:
                conn.execute(statement)
                refused = None
            except psycopg.errors.InsufficientPrivilege as exc:
                refused = exc
            assert (refused is None) == (role in allowed), (role, statement, refused)


# -- SECURITY DEFINER ---------------------------------------------------------


def test_every_security_definer_function_pins_search_path(db):
    rows = db.execute(
        """
        select p.oid::regprocedure::text, p.proconfig,
               has_function_privilege('public', p.oid, 'execute')
        from pg_proc as p
        join pg_depend as d on d.classid = 'pg_proc'::regclass and d.objid = p.oid
        join pg_extension as e on e.oid = d.refobjid and e.extname = 'prospectpro'
        where d.deptype = 'e' and p.prosecdef
        """
    ).fetchall()
    assert len(rows) > 20
    for name, config, public in rows:
        paths = [c for c in config or [] if c.startswith("search_path=")]
        assert paths, f"{name} is SECURITY DEFINER without SET search_path"
        schemas = [s.strip() for s in paths[0].removeprefix("search_path=").split(",")]
        # pg_catalog first (no shadowing of built-ins), pg_temp last (no shadowing at all).
        assert schemas[0] == "pg_catalog" and schemas[-1] == "pg_temp", (name, schemas)
        assert not public, f"PUBLIC can run the SECURITY DEFINER function {name}"
    # Functions that are not SECURITY DEFINER run with the caller's rights; the
    # procedures among them (which may not SET search_path) and _lead_payload
    # (inlined into the capture triggers' queries, which a SET would prevent)
    # qualify every name.
    unpinned = db.execute(
        """
        select p.proname from pg_proc as p
        join pg_depend as d on d.classid = 'pg_proc'::regclass and d.objid = p.oid
        join pg_extension as e on e.oid = d.refobjid and e.extname = 'prospectpro'
        where d.deptype = 'e' and p.proconfig is null and p.prokind <> 'p'
        """
    ).fetchall()
    assert unpinned == [("_lead_payload",)]


# -- secrets never leak ---------------------------------------------------------


def test_configuration_errors_do_not_echo_secrets(db, cluster):
    """A refused configure_endpoint reports what was wrong, not the row it
    refused (PostgreSQL's DETAIL "Failing row contains (...)" would hold the
    token); nor does the server log."""
    db.execute("set log_min_error_statement = 'error'")  # log the failing statements too
    offset = log_offset(cluster)
    bad = {  # the argument, and what the error must name (a constraint, or the check)
        "scheme 'ftp' is not http or https": {"url": "ftp://example.com"},
        "the URL carries userinfo": {"url": f"https://hook:{TOKEN}@example.com/"},
        "endpoint_timeout_range": {"timeout_ms": -1},
        "endpoint_retry_schedule_valid": {"retry_schedule": [-1.0]},
        "endpoint_jitter_fraction": {"jitter": 2.0},
        "endpoint_max_connections_range": {"max_connections": 0},
        "webhook_type_known": {"webhook_type": "sms"},
    }
    for named, override in bad.items():
        args = {
            "webhook_type": "cost_alert",
            "url": "http://127.0.0.1:9/x",
            "token": TOKEN,
            "signing_secret": SECRET,
            "timeout_ms": 1000,
            "retry_schedule": [1.0],
            "jitter": 0.1,
            "max_connections": 4,
            **override,
        }
        error = error_of(
            db,
            "select prospectpro.configure_endpoint(%(webhook_type)s, %(url)s, %(token)s,"
            " %(signing_secret)s, retry_schedule => %(retry_schedule)s,"
            " timeout_ms => %(timeout_ms)s, jitter => %(jitter)s,"
            " max_connections => %(max_connections)s)",
            args,
        )
        assert error.diag.message_hint, named
        assert named in error.diag.message_primary, error_text(error)
        assert_no_secret(error_text(error), f"the error naming {named}")
    assert db.execute("select count(*) from prospectpro.endpoints").fetchone() == (0,)
    logged = log_since(cluster, offset)
    assert "invalid endpoint configuration" in logged  # the errors were logged...
    assert_no_secret(logged, "the server log")  # ...without the secrets


def test_failed_deliveries_log_no_secret(configured, cluster):
    """Refused connections and HTTP errors: webhook_logs, last_error and the
    breaker's reason name the failure, not the token."""
    offset = log_offset(cluster)
    with _echo_server(echo=False) as server:
        for webhook_type in ("lead_enrichment", "cost_alert", "campaign_lifecycle"):
            configured.execute(
                "select prospectpro.configure_endpoint(%s, %s, %s, %s, retry_schedule => '{0}')",
                (webhook_type, server.url, TOKEN, SECRET),
            )
        configured.execute("update prospectpro.outbox set next_attempt_at = now()")
        assert configured.execute("select prospectpro.deliver_due()").fetchone()[0] >= 2
        assert server.received, "the endpoint was reached"
    logs = configured.execute(
        "select coalesce(jsonb_agg(to_jsonb(l)), '[]')::text from prospectpro.webhook_logs as l"
    ).fetchone()[0]
    assert "HTTP 500" in logs and "connection failed" in logs
    assert_no_secret(logs, "webhook_logs")
    outbox = configured.execute(
        "select coalesce(jsonb_agg(to_jsonb(o)), '[]')::text from prospectpro.outbox as o"
    ).fetchone()[0]
    assert_no_secret(outbox, "the outbox")
    status = configured.execute(
        "select jsonb_agg(to_jsonb(s))::text from prospectpro.endpoint_status as s"
    ).fetchone()[0]
    assert_no_secret(status, "endpoint_status")
    assert_no_secret(log_since(cluster, offset), "the server log")


def test_an_endpoint_echoing_the_token_does_not_put_it_in_webhook_logs(db):
    with _echo_server(echo=True) as server:
        db.execute(
            "select prospectpro.configure_endpoint('cost_alert', %s, %s, %s)",
            (server.url, TOKEN, SECRET),
        )
        db.execute("select prospectpro._emit('cost_alert', '{}')")
        db.execute("select prospectpro.deliver_due()")
        assert server.received
    excerpts = db.execute(
        "select string_agg(coalesce(response_excerpt, '') || coalesce(error, ''), ' ')"
        " from prospectpro.webhook_logs"
    ).fetchone()[0]
    assert "HTTP 500" in db.execute("select error from prospectpro.webhook_logs").fetchone()[0]
    assert_no_secret(excerpts, "webhook_logs")


def test_a_token_that_is_no_header_value_is_refused_without_echoing_it(db):
    # httpx would refuse to send it, and quote it into the error it logs.
    bad_token = TOKEN + "\r\nx-injected: 1"
    with pytest.raises(psycopg.errors.CheckViolation) as caught:
        db.execute(
            "select prospectpro.configure_endpoint('cost_alert', %s, %s)",
            ("http://127.0.0.1:9/x", bad_token),
        )
    assert caught.value.diag.message_hint
    diag = caught.value.diag
    assert_no_secret(
        " ".join(filter(None, [diag.message_primary, diag.message_detail, diag.context])),
        "the error",
    )
    assert db.execute("select count(*) from prospectpro.endpoints").fetchone() == (0,)


# -- the receiver ---------------------------------------------------------------


def test_receiver_answers_never_contain_the_token_or_secret(db, start_receiver):
    base = start_receiver(WEBHOOK_AUTH_TOKEN=TOKEN, WEBHOOK_SIGNING_SECRET=SECRET)
    route = "/api/webhooks/cost-alert"
    answers = [
        httpx.get(base + route + "/health", timeout=5),
        httpx.get(base + "/metrics", timeout=5),
        httpx.get(base + "/openapi.json", timeout=5),
        httpx.post(base + route, content=b"{}", timeout=5),
        httpx.post(base + route, content=b"{}", headers={"authorization": "Bearer x"}),
        httpx.post(base + route, content=b"{}", headers={"authorization": f"Bearer {TOKEN}"}),
        httpx.post(
            base + route,
            content=b"{}",
            headers={
                "authorization": f"Bearer {TOKEN}",
                "webhook-id": "x",
                "webhook-timestamp": "1",
                "webhook-signature": "v1,AAAA",
            },
        ),
        httpx.get(base + "/api/campaigns/1/export.csv", headers={"authorization": "Bearer x"}),
    ]
    assert [a.status_code for a in answers[3:]] == [401, 401, 401, 401, 401]
    for answer in answers:
        text = answer.text + json.dumps(dict(answer.headers))
        assert_no_secret(text, f"the answer to {answer.request.method} {answer.request.url}")


def test_bearer_tokens_are_compared_in_constant_time():
    tree = ast.parse(textwrap.dedent(inspect.getsource(auth.check_bearer)))
    calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert "hmac.compare_digest" in calls
    # No ordinary comparison ever touches the presented or the expected token.
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            assert not names & {"token", "presented"}, ast.unparse(node)
    # Every route that needs the token goes through check_bearer.
    assert "check_bearer" in inspect.getsource(auth.authenticated_json)
    assert "check_bearer" in inspect.getsource(pipeline.export_csv)


# -- helpers --------------------------------------------------------------------


def _echo_server(echo: bool) -> Sink:
    """A loopback endpoint answering 500; with echo, its body repeats the
    request's headers, as a framework's debug error page does."""

    def respond(request: Received) -> Answer:
        body = {"error": "boom", "request_headers": request.headers} if echo else {"error": "boom"}
        return Answer(500, body=json.dumps(body).encode())

    return Sink(respond=respond)


def test_a_schema_others_may_create_in_is_refused(cluster):
    """CREATE OR REPLACE and the qualified calls between functions are safe only
    while no untrusted role can create objects in the schema: a schema made
    beforehand that lets one do so stops CREATE EXTENSION, naming the role."""
    name = f"planted_{next(_serial)}"
    cluster.psql(f'create database "{name}"')
    try:
        with psycopg.connect(cluster.dsn(name), autocommit=True) as conn:
            conn.execute("create role planter_role nologin")
            conn.execute("create schema prospectpro")
            conn.execute("grant create on schema prospectpro to planter_role")
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
                conn.execute("create extension prospectpro cascade")
            assert "planter_role" in str(caught.value)
            assert "REVOKE CREATE" in caught.value.diag.message_hint
            conn.execute("revoke create on schema prospectpro from planter_role")
            conn.execute("create extension prospectpro cascade")
    finally:
        cluster.psql(f'drop database "{name}" with (force)')
        cluster.psql("drop role if exists planter_role")
