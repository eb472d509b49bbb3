"""Bad input against the running receiver, over real HTTP: schema-driven fuzzing
(schemathesis, from the receiver's own GET /openapi.json) and property-based
fuzzing (hypothesis) of every route, with and without the right token.

Invariants, for every request:
- no 5xx (a /health route's 503 is its documented "unhealthy", not an error);
- a rejected (non-2xx) request changes nothing in the database;
- a body over the limit is refused from its declared length, before it is read;
- the token is never echoed back.

Examples are bounded so the file runs in well under a minute.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import schemathesis
from conftest import TEMPLATE, serve_receiver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from prospectpro import schemas
from prospectpro.app import ROUTES, create_app
from prospectpro.settings import Settings
from prospectpro_dev.processes import Processes
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from standardwebhooks.webhooks import Webhook

TOKEN = "fuzz-token-7f3a9c"
SECRET = "whsec_" + "c2VjcmV0IGZvciB0aGUgZnV6emluZyB0ZXN0cyEhIQ=="
MAX_BODY = 8192
# Nothing may leave 127.0.0.1: the providers point at the discard port.
NOWHERE = "http://127.0.0.1:9"
BEARER = {"authorization": f"Bearer {TOKEN}"}
WEBHOOK_PATHS = tuple(ROUTES.values())
STAGE4_LEADS = (1, 2, 3)  # seeded at stage4: scoring runs in the database, no provider call
TABLES = (
    "campaigns",
    "enhanced_leads",
    "api_costs",
    "applied_deliveries",
    "outbox",
    "cost_alerts",
    "cost_windows",
    "campaign_exports",
    "settings",
)
SNAPSHOT_SQL = "select " + ", ".join(
    f"(select coalesce(jsonb_agg(to_jsonb(t) order by to_jsonb(t)::text), '[]')::text"
    f" from prospectpro.{table} as t)"
    for table in TABLES
)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


# -- fixtures and helpers ---------------------------------------------------


def snapshot(db) -> dict[str, str]:
    return dict(zip(TABLES, db.execute(SNAPSHOT_SQL).fetchone(), strict=True))


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return [table for table in TABLES if before[table] != after[table]]


def seed(db) -> None:
    """A campaign with three leads at stage4 and every endpoint configured (so
    /health is healthy)."""
    db.execute("insert into prospectpro.campaigns (id, name) values (1, 'Fuzzing')")
    db.execute(
        "insert into prospectpro.enhanced_leads (id, campaign_id, business_name)"
        " select i, 1, 'Lead ' || i from unnest(%s::bigint[]) as i",
        (list(STAGE4_LEADS),),
    )
    db.execute("update prospectpro.enhanced_leads set enrichment_stage = 'stage4'")
    for webhook_type in ROUTES:
        db.execute(
            "select prospectpro.configure_endpoint(%s, %s, %s)",
            (webhook_type, f"{NOWHERE}/{webhook_type}", TOKEN),
        )


def receiver_env(**extra: str) -> dict[str, str]:
    return {
        "WEBHOOK_AUTH_TOKEN": TOKEN,
        "WEBHOOK_MAX_BODY_BYTES": str(MAX_BODY),
        # Keys set (so /health is healthy), providers nowhere: a call fails at once.
        "GOOGLE_PLACES_BASE_URL": NOWHERE,
        "GOOGLE_PLACES_API_KEY": "fuzz-key",
        "HUNTER_BASE_URL": NOWHERE,
        "HUNTER_API_KEY": "fuzz-key",
        **extra,
    }


@dataclass
class World:
    db: psycopg.Connection
    plain: str  # the receiver's URL
    signed: str  # the same with a Standard Webhooks signing secret
    logs: list[Path]


@pytest.fixture(scope="module")
def world(cluster, tmp_path_factory):
    """One database and two receivers for the whole file: every invariant is
    checked per request, so the examples need no fresh database each."""
    name = f"fuzz_{os.getpid()}"
    cluster.psql(f'create database "{name}" template {TEMPLATE}')
    dsn = cluster.dsn(name)
    work = tmp_path_factory.mktemp("fuzz")
    procs = Processes(timeout=10)

    def serve(log: Path, env: dict[str, str]) -> str:
        proc, base = serve_receiver(dsn, work / "exports", env, log)
        procs.add(proc)
        return base

    try:
        with psycopg.connect(dsn, autocommit=True) as db:
            seed(db)
            plain = serve(work / "plain.log", receiver_env())
            signed = serve(work / "signed.log", receiver_env(WEBHOOK_SIGNING_SECRET=SECRET))
            yield World(db, plain, signed, [work / "plain.log", work / "signed.log"])
    finally:
        procs.stop()
        cluster.psql(f'drop database "{name}" with (force)')


@pytest.fixture
def seeded(world):
    return world.db


@pytest.fixture
def receiver(world):
    return world.plain


@pytest.fixture(autouse=True)
def no_tracebacks(world):
    """An unhandled exception in the receiver (a 500) leaves a traceback in its log."""
    sizes = [log.stat().st_size for log in world.logs]
    yield
    for log, size in zip(world.logs, sizes, strict=True):
        with open(log, "rb") as f:
            f.seek(size)
            logged = f.read().decode(errors="replace")
        assert "Traceback" not in logged, logged[-3000:]
        assert TOKEN not in logged and SECRET not in logged


def lead_payload(lead_id: int = 1, stage: str = "stage4") -> dict:
    return {
        "lead_id": lead_id,
        "campaign_id": 1,
        "webhook_type": "lead_enrichment",
        "enrichment_stage": stage,
        "lead_data": {"business_name": "Cafe", "confidence_score": 0, "is_qualified": False},
        "webhook_metadata": {
            "trigger_time": "2026-01-01T10:00:00Z",
            "trigger_source": "database_trigger",
        },
    }


def cost_payload() -> dict:
    return {
        "alert_type": "daily_spend",
        "severity": "warning",
        "threshold_value": 50,
        "current_value": 60.5,
        "threshold_exceeded_by": 10.5,
        "time_period": "daily",
        "alert_metadata": {
            "campaign_ids": [1],
            "top_cost_apis": ["google_places"],
            "alert_triggered_at": "2026-01-01T10:00:00Z",
        },
    }


def lifecycle_payload(event: str = "progress_update") -> dict:
    return {
        "campaign_id": 1,
        "lifecycle_event": event,
        "campaign_info": {"name": "Fuzzing", "target_count": 100, "budget_limit": None},
        "processing_status": {
            "total_leads": 3,
            "qualified_leads": 0,
            "processing_cost": 0,
            "completion_percentage": 0,
        },
        "event_data": {"old_status": "created", "new_status": "processing"},
    }


VALID = {
    ROUTES["lead_enrichment"]: lead_payload,
    ROUTES["cost_alert"]: cost_payload,
    ROUTES["campaign_lifecycle"]: lifecycle_payload,
}


def is_documented_unhealthy(path: str, response) -> bool:
    return path.endswith("/health") and response.status_code == 503


def assert_no_server_error(path: str, response) -> None:
    assert response.status_code < 500 or is_documented_unhealthy(path, response), (
        f"{path}: {response.status_code} {response.text[:300]}"
    )
    assert TOKEN not in response.text


def raw_exchange(base: str, request: bytes, timeout: float = 3.0) -> tuple[int, float]:
    """Send raw bytes and read the status line; returns (status, seconds taken).

    The socket stays open for writing, so a server that waits for a body it
    was promised does not answer within ``timeout``."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        started = time.monotonic()
        sock.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - started
    return int(answer.split(b" ", 2)[1]), elapsed


def http_head(path: str, *lines: str) -> bytes:
    return (
        "\r\n".join([f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *lines]).encode("latin-1")
        + b"\r\n\r\n"
    )


# JSON values of every shape, and valid payloads with parts replaced or removed.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _slots(value, slots: list) -> list:
    """Every (container, key) in a JSON document."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        slots.append((value, key))
        if isinstance(child, dict | list):
            _slots(child, slots)
    return slots


@st.composite
def mutated(draw, payload: dict) -> dict:
    value = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(value, [])
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(json_values)
    return value


# -- the OpenAPI document ---------------------------------------------------


def test_openapi_document_describes_every_route(receiver):
    answer = httpx.get(receiver + "/openapi.json", timeout=5)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    doc = answer.json()
    assert doc["openapi"] == "3.1.0"

    app = create_app(Settings(database_url=""))
    served = {
        (route.path.replace("{campaign_id:id}", "{campaign_id}"), method.lower())
        for route in app.routes
        for method in route.methods - {"HEAD"}
        if route.path != "/openapi.json"
    }
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert documented == served

    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    for webhook_type, path in ROUTES.items():
        post = doc["paths"][path]["post"]
        assert post["security"] == [{"bearerAuth": []}]
        ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert doc["components"]["schemas"][ref.rsplit("/", 1)[1]] == schemas.SCHEMAS[webhook_type]
        assert {"200", "400", "401", "413", "422", "502"} <= set(post["responses"])
        assert doc["paths"][path + "/health"]["get"]["security"] == []
    export = doc["paths"]["/api/campaigns/{campaign_id}/export.csv"]["get"]
    assert export["security"] == [{"bearerAuth": []}]
    assert {"200", "401", "404"} <= set(export["responses"])
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


# -- schema-driven fuzzing (schemathesis) -----------------------------------


def for_each(strategy, check) -> None:
    """Run ``check`` on FUZZ's number of examples drawn from ``strategy``."""

    @FUZZ
    @given(strategy)
    def run(example):
        check(example)

    run()


def _operations(base: str):
    schema = schemathesis.openapi.from_url(base + "/openapi.json", timeout=10)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 3 * 2 + 2
    return operations


def test_schemathesis_with_the_token(receiver, seeded):
    """Positive cases must answer as documented; negative ones must be refused
    without a 5xx; no non-2xx answer may change the database."""
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    statuses: dict[tuple[str, str], set[int]] = {}
    with httpx.Client(base_url=receiver, timeout=10) as client:
        for operation in _operations(receiver):
            raw = operation.definition.raw
            modes = [GenerationMode.POSITIVE]
            if raw.get("parameters") or raw.get("requestBody"):  # something to negate
                modes.append(GenerationMode.NEGATIVE)
            for mode in modes:
                seen = statuses.setdefault((operation.label, mode.value), set())

                def check(case, mode=mode, seen=seen):
                    before = snapshot(seeded)
                    response = case.call(base_url=receiver, timeout=10)
                    seen.add(response.status_code)
                    if is_documented_unhealthy(case.path, response):
                        assert response.json()["status"] == "unhealthy"
                    else:
                        assert response.status_code < 500, response.text[:300]
                    assert TOKEN not in response.text
                    if not 200 <= response.status_code < 300:
                        assert changed(before, snapshot(seeded)) == []
                    if mode == GenerationMode.POSITIVE:
                        case.validate_response(response, checks=checks)

                for_each(operation.as_strategy(generation_mode=mode, headers=BEARER), check)
        # The fuzzing reached the handlers: valid payloads were accepted.
        for path in WEBHOOK_PATHS:
            assert 200 in statuses[(f"POST {path}", "positive")], statuses
        assert client.get("/metrics").status_code == 200


def test_schemathesis_without_the_right_token(receiver, seeded):
    """Every protected operation refuses a wrong token with 401 and changes nothing."""
    protected = [op for op in _operations(receiver) if op.definition.raw.get("security")]
    assert len(protected) == 4
    for operation in protected:
        strategy = operation.as_strategy(
            headers={"authorization": "Bearer not-" + TOKEN}
        ) | operation.as_strategy(
            generation_mode=GenerationMode.NEGATIVE, headers={"authorization": TOKEN}
        )

        def check(case):
            before = snapshot(seeded)
            response = case.call(base_url=receiver, timeout=10)
            # 404: a negative case can make the path itself not match.
            assert response.status_code in (401, 404), response.text[:300]
            assert TOKEN not in response.text
            assert changed(before, snapshot(seeded)) == []

        for_each(strategy, check)


# -- property-based fuzzing (hypothesis) ------------------------------------


def test_arbitrary_bodies_and_content_types(receiver, seeded):
    """Bytes, JSON-ish text or mutated payloads, any content type, any token:
    only 200 for a valid payload with the token, never a 5xx, never a write
    when refused."""
    bodies = (
        st.binary(max_size=300)
        | st.text(max_size=300).map(str.encode)
        | json_values.map(lambda v: json.dumps(v).encode())
        | st.sampled_from(list(VALID))
        .flatmap(lambda path: mutated(VALID[path]()))
        .map(lambda v: json.dumps(v).encode())
    )
    content_types = st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin-1",
            "",
        ]
    )
    tokens = st.sampled_from([TOKEN, "", "wrong", TOKEN + "x", TOKEN[:-1], TOKEN.upper()])

    with httpx.Client(base_url=receiver, timeout=10) as client:

        @FUZZ
        @given(st.sampled_from(WEBHOOK_PATHS), bodies, content_types, tokens)
        def run(path, body, content_type, token):
            headers = {"webhook-id": str(uuid.uuid4()), "content-type": content_type}
            if token:
                headers["authorization"] = f"Bearer {token}"
            before = snapshot(seeded)
            response = client.post(path, content=body, headers=headers)
            assert_no_server_error(path, response)
            if token != TOKEN:
                assert response.status_code == 401
                assert response.headers["www-authenticate"] == "Bearer"
            elif len(body) <= MAX_BODY:
                assert response.status_code in (200, 400, 409, 422), response.text[:300]
                assert response.headers["content-type"] == "application/json"
            if response.status_code != 200:
                assert changed(before, snapshot(seeded)) == []

        run()


def test_mutated_payloads_are_answered_or_refused_cleanly(receiver, seeded):
    """A valid payload with parts replaced by any JSON value or removed: 200,
    or a 4xx with reasons; a lead the database has is applied at most once."""
    with httpx.Client(base_url=receiver, timeout=10, headers=BEARER) as client:

        @FUZZ
        @given(
            st.sampled_from(list(VALID)).flatmap(
                lambda p: st.tuples(st.just(p), mutated(VALID[p]()))
            )
        )
        def run(args):
            path, payload = args
            before = snapshot(seeded)
            response = client.post(path, json=payload, headers={"webhook-id": str(uuid.uuid4())})
            assert_no_server_error(path, response)
            assert response.status_code in (200, 400, 409, 422), response.text[:300]
            if response.status_code == 422:
                assert response.json()["details"]
                assert schemas.problems(next(t for t, p in ROUTES.items() if p == path), payload)
            if response.status_code != 200:
                assert changed(before, snapshot(seeded)) == []

        run()
    twice = seeded.execute(
        "select lead_id, stage from prospectpro.applied_deliveries where applied"
        " group by lead_id, stage having count(*) > 1"
    ).fetchall()
    assert twice == []


def test_signature_headers_are_fuzzed_without_a_5xx(world, seeded):
    """With a signing secret, malformed webhook-signature/-timestamp/-id headers and
    bodies that are not UTF-8 are refused with 401, never a 5xx (a signature
    without a comma, bad base64 or a body that is not UTF-8 were 500s)."""
    base = world.signed
    body = json.dumps(lead_payload()).encode()
    now = str(int(time.time()))
    # Leading or trailing blanks are not part of a header value (HTTP strips
    # them, and the client refuses to send them).
    header_text = st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
        max_size=60,
    ).map(lambda text: text.strip(" \t"))
    signatures = (
        header_text
        | st.sampled_from(["v1", "v1,", "v1,!!!", "v1,a,b", "v1,YQ", "v2,abc", "v1,YWJj v1"])
        | st.lists(st.sampled_from(["v1,", "v1a", ",", "=", "YWJj"]), max_size=5).map("".join)
    )
    timestamps = header_text | st.sampled_from([now, "nan", "inf", "-1", "1e300", now + ".5"])

    with httpx.Client(base_url=base, timeout=10, headers=BEARER) as client:

        @FUZZ
        @given(signatures, timestamps, header_text, st.sampled_from([body, b"\xff\xfe" + body]))
        def run(signature, timestamp, webhook_id, content):
            before = snapshot(seeded)
            headers = [
                (b"webhook-signature", signature.encode("latin-1")),
                (b"webhook-timestamp", timestamp.encode("latin-1")),
                (b"webhook-id", webhook_id.encode("latin-1")),
                (b"content-type", b"application/json"),
            ]
            response = client.post(ROUTES["lead_enrichment"], content=content, headers=headers)
            assert response.status_code == 401, response.text[:300]
            assert SECRET not in response.text
            assert changed(before, snapshot(seeded)) == []

        run()

    # The same request, signed, is accepted: the 401s above were the signatures'.
    webhook_id = str(uuid.uuid4())
    signature = Webhook(SECRET).sign(webhook_id, _utc(int(now)), body.decode())
    answer = httpx.post(
        base + ROUTES["lead_enrichment"],
        content=body,
        headers={
            **BEARER,
            "webhook-id": webhook_id,
            "webhook-timestamp": now,
            "webhook-signature": signature,
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def _utc(stamp: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(stamp, UTC)


# -- specific bad inputs ----------------------------------------------------


BAD_JSON = {
    "NaN": b'{"lead_id": NaN}',
    "Infinity": b'{"lead_id": Infinity}',
    "float-overflow": b'{"lead_id": 1e999}',
    "4301-digit-integer": b'{"lead_id": ' + b"9" * 4301 + b"}",
    "deeply-nested-unclosed": b"[" * 3000,
    "deeply-nested-valid-json": b"[" * 900 + b"]" * 900,
    "deeply-nested-objects": b'{"a":' * 200 + b"1" + b"}" * 200,
    "utf8-bom": b"\xef\xbb\xbf{}",
    "trailing-nul": b'{"lead_id": 1}\x00',
    "utf16": b"\xff\xfe{\x00}\x00",
    "empty": b"",
}


def test_json_that_python_reads_but_is_not_a_payload(receiver, seeded):
    """NaN, huge numbers, deep nesting, other encodings: 400 or 422, not a 500
    (deep nesting, 4301 digits and a float lead_id were 500s)."""
    before = snapshot(seeded)
    for name, body in BAD_JSON.items():
        for path in WEBHOOK_PATHS:
            answer = httpx.post(
                receiver + path,
                content=body,
                headers={**BEARER, "webhook-id": str(uuid.uuid4())},
                timeout=10,
            )
            assert answer.status_code in (400, 422), (name, path, answer.text[:200])
            assert "error" in answer.json()
    assert changed(before, snapshot(seeded)) == []


BAD_IDS = [
    ("lead_id", 1.0),  # lead 1 exists, at stage4: this was a 500 (no apply_enrichment(float))
    ("lead_id", 1e0),
    ("lead_id", True),
    ("lead_id", 2**63),
    ("lead_id", 0),
    ("lead_id", -1),
    ("lead_id", "1"),
    ("campaign_id", 1.5),
]


def test_ids_must_be_bigints(receiver, seeded):
    before = snapshot(seeded)
    for field, value in BAD_IDS:
        answer = httpx.post(
            receiver + ROUTES["lead_enrichment"],
            json={**lead_payload(1), field: value},
            headers={**BEARER, "webhook-id": str(uuid.uuid4())},
            timeout=10,
        )
        assert answer.status_code == 422, (field, value, answer.text)
        assert any(field in detail for detail in answer.json()["details"])
    assert changed(before, snapshot(seeded)) == []


def test_rejections_quote_values_briefly(receiver, seeded):
    """A 422 names each problem and quotes the value, clipped: a long value is
    not echoed back whole, ten times over."""
    payload = {**lead_payload(), "lead_data": "x" * 5000, "webhook_metadata": ["y" * 200] * 10}
    answer = httpx.post(
        receiver + ROUTES["lead_enrichment"],
        json=payload,
        headers={**BEARER, "webhook-id": str(uuid.uuid4())},
        timeout=10,
    )
    assert answer.status_code == 422
    details = answer.json()["details"]
    assert any(d.startswith("lead_data: ") for d in details)
    assert all(len(d) <= 300 for d in details)
    assert len(answer.content) < 4000


NOT_CANONICAL_UUIDS = [
    "urn:uuid:12345678-1234-5678-1234-567812345678",
    "{{12345678-1234-5678-1234-567812345678}}",
    "1234-5678-1234-5678-1234-5678-1234-5678",
    "{{12345678123456781234567812345678}}",
    "12345678123456781234567812345678",
    "12345678-1234-5678-1234-56781234567g",
    "not-a-uuid",
    "",
]


def test_webhook_ids_postgresql_cannot_read_are_refused(receiver, seeded):
    """Only the canonical form: Python's uuid.UUID() accepts spellings that
    PostgreSQL's uuid refuses (the first two were a 500)."""
    before = snapshot(seeded)
    for webhook_id in NOT_CANONICAL_UUIDS:
        answer = httpx.post(
            receiver + ROUTES["lead_enrichment"],
            json=lead_payload(1),
            headers={**BEARER, "webhook-id": webhook_id},
            timeout=10,
        )
        assert answer.status_code == 400, (webhook_id, answer.text)
    assert changed(before, snapshot(seeded)) == []


def test_a_valid_payload_for_a_lead_the_database_has_is_applied(receiver, seeded):
    """The fuzzing is not vacuous: the same route applies a good payload."""
    lead_id = 10**12  # far from the ids the fuzzing favours
    seeded.execute(
        "insert into prospectpro.enhanced_leads (id, campaign_id, business_name)"
        " values (%s, 1, 'Applied')",
        (lead_id,),
    )
    seeded.execute(
        "update prospectpro.enhanced_leads set enrichment_stage = 'stage4' where id = %s",
        (lead_id,),
    )
    answer = httpx.post(
        receiver + ROUTES["lead_enrichment"],
        json=lead_payload(lead_id),
        headers={**BEARER, "webhook-id": str(uuid.uuid4())},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "applied"
    stage = seeded.execute(
        "select enrichment_stage from prospectpro.enhanced_leads where id = %s", (lead_id,)
    )
    assert stage.fetchone()[0] == "completed"
    unknown = httpx.post(
        receiver + ROUTES["lead_enrichment"],
        json=lead_payload(987654321),
        headers={**BEARER, "webhook-id": str(uuid.uuid4())},
        timeout=10,
    )
    assert unknown.status_code == 200
    assert unknown.json()["status"] == "ignored"


def test_oversize_bodies_are_refused_before_they_are_read(receiver, seeded):
    """A declared length over the limit is answered at once: the rest of the
    body is never sent, yet the answer comes back."""
    before = snapshot(seeded)
    path = ROUTES["cost_alert"]
    bearer = f"Authorization: Bearer {TOKEN}"
    for declared in (MAX_BODY + 1, 10**9, 10**18, 10**30):
        head = http_head(
            path, bearer, "Content-Type: application/json", f"Content-Length: {declared}"
        )
        status, elapsed = raw_exchange(receiver, head + b'{"alert_type": ')
        if declared == 10**30:
            assert status in (400, 413)  # the HTTP parser may refuse it first
        else:
            assert status == 413, declared
        assert elapsed < 1.0, (declared, elapsed)
    # Without the token, the answer is 401, also without reading the body.
    head = http_head(path, "Content-Type: application/json", "Content-Length: 1000000000")
    status, elapsed = raw_exchange(receiver, head + b"{")
    assert (status, elapsed < 1.0) == (401, True)
    # At the limit, the body is read and judged.
    body = b" " * (MAX_BODY - 2) + b"{}"
    answer = httpx.post(receiver + path, content=body, headers=BEARER, timeout=10)
    assert answer.status_code == 422
    assert changed(before, snapshot(seeded)) == []


def test_weird_authorization_headers(receiver, seeded):
    before = snapshot(seeded)
    path = receiver + ROUTES["cost_alert"]
    body = json.dumps(cost_payload()).encode()

    def post(*headers: tuple[bytes, bytes]) -> httpx.Response:
        return httpx.post(
            path, content=body, headers=[(b"content-type", b"application/json"), *headers]
        )

    good = (b"authorization", f"Bearer {TOKEN}".encode())
    assert post(good).status_code == 200
    assert post((b"authorization", f"bearer {TOKEN}".encode())).status_code == 200
    refused = {
        "duplicate, right one first": post(good, (b"authorization", b"Bearer wrong")),
        "duplicate, right one last": post((b"authorization", b"Bearer wrong"), good),
        "duplicate, both right": post(good, good),
        "latin-1 bytes": post((b"authorization", "Bearer fuzz-tökén".encode("latin-1"))),
        "utf-8 bytes": post((b"authorization", "Bearer fuzz-tökén".encode())),
        "token prefix": post((b"authorization", f"Bearer {TOKEN[:-1]}".encode())),
        "token and more": post((b"authorization", f"Bearer {TOKEN}x".encode())),
        "no scheme": post((b"authorization", TOKEN.encode())),
        "basic": post((b"authorization", f"Basic {TOKEN}".encode())),
        "8 KB token": post((b"authorization", b"Bearer " + b"x" * 8000)),
        "empty": post((b"authorization", b"")),
    }
    for name, answer in refused.items():
        assert answer.status_code == 401, (name, answer.status_code)
        assert answer.headers["www-authenticate"] == "Bearer", name
        assert TOKEN not in answer.text
    # Headers past the HTTP parser's limit never reach the application.
    huge = post((b"authorization", b"Bearer " + b"x" * 70000))
    assert 400 <= huge.status_code < 500
    assert changed(before, snapshot(seeded)) == []


def test_wrong_methods_are_405(receiver, seeded):
    before = snapshot(seeded)
    for path in WEBHOOK_PATHS:
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            answer = httpx.request(method, receiver + path, headers=BEARER, content=b"{}")
            assert answer.status_code == 405, (method, path)
            assert "POST" in answer.headers["allow"]
        health = httpx.post(receiver + path + "/health", headers=BEARER, content=b"{}")
        assert health.status_code == 405
    for path in ("/metrics", "/openapi.json", "/api/campaigns/1/export.csv"):
        for method in ("POST", "PUT", "DELETE"):
            answer = httpx.request(method, receiver + path, headers=BEARER, content=b"{}")
            assert answer.status_code == 405, (method, path)
    assert changed(before, snapshot(seeded)) == []


def test_content_type_is_not_what_decides(receiver, seeded):
    """The receiver reads every webhook body as JSON whatever its declared type
    (the sender is the database, which always sends application/json): a valid
    payload gets the same answer, and a form-encoded body is invalid JSON."""
    path = receiver + ROUTES["cost_alert"]
    body = json.dumps(cost_payload()).encode()
    for content_type in ("text/plain", "application/xml", "application/octet-stream"):
        answer = httpx.post(path, content=body, headers={**BEARER, "content-type": content_type})
        assert answer.status_code == 200, content_type
        assert answer.json() == {"status": "acknowledged", "alert_type": "daily_spend"}
    form = httpx.post(path, data={"alert_type": "daily_spend"}, headers=BEARER)
    assert form.status_code == 400


def test_export_route_ids(receiver, seeded):
    """Any digits in the path: 404 or 401, never a 5xx (Starlette's int path
    convertor turned 4301 digits into a 500 before the route's check)."""
    for campaign in ("1", "9" * 19, "9" * 20, "9" * 300, "9" * 5000, "-1", "1.5", "0x10"):
        url = f"{receiver}/api/campaigns/{campaign}/export.csv"
        with_token = httpx.get(url, headers=BEARER, timeout=10)
        assert with_token.status_code == 404, (campaign[:30], with_token.status_code)
        without = httpx.get(url, timeout=10)
        assert without.status_code in (401, 404), (campaign[:30], without.status_code)
    assert httpx.get(f"{receiver}/api/campaigns/1/export.csv").status_code == 401
