"""The delivery client the database POSTs webhooks with (prospectpro_pl.delivery_transport),
against the loopback sink: the framings a server may choose (raw bytes where h11
would not frame them), connections it closes, hangs, resets, endless answers,
poisoned URLs, TLS."""

from __future__ import annotations

import ssl

import pytest
import trustme
from prospectpro_dev.sink import Answer, Received, Sink
from prospectpro_pl.delivery_transport import Request, Transport, ca_file_problem

OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n{"ok": true}'
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nserver: x\r\n\r\n"
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n"


def serving(answer: Answer, tls=None) -> Sink:
    sink = Sink(tls=tls)
    sink.default = answer
    return sink


def post(*urls: str, timeout: float = 2.0, ca_file: str | None = None, client=None):
    """POST one webhook to each URL in one call, as a delivery round does."""
    requests = [
        Request(u, {"authorization": "Bearer tok"}, b'{"n": 1}', timeout, 4, ca_file) for u in urls
    ]
    return (client or Transport()).post_all(requests, start_within=2.0)


@pytest.mark.parametrize(
    ("answer", "status", "excerpt"),
    [
        # 204 and 304 have no body whatever their headers say
        (NO_CONTENT, 204, None),
        (b"HTTP/1.1 304 Not Modified\r\netag: a\r\n\r\n", 304, None),
        # interim answers before the final one
        (INTERIM + OK, 200, '{"ok": true}'),
        # chunked, with a chunk extension and trailers
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: 1\r\nx-more: 2\r\n\r\n",
            200,
            "hello world",
        ),
    ],
)
def test_delivery_reads_each_answer_and_reuses_its_connection(answer, status, excerpt):
    with serving(Answer(raw=answer)) as server:
        client = Transport()
        outcomes = [post(f"{server.base}/a", client=client)[0] for _ in range(3)]
    assert [(o.http_status, o.excerpt) for o in outcomes] == [(status, excerpt)] * 3
    assert [o.ok for o in outcomes] == [200 <= status < 300] * 3
    assert len(server.received) == 3 and server.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\n\r\nuntil the end",  # close-delimited
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",  # 1.0 without keep-alive
    ],
)
def test_delivery_opens_a_new_connection_after_an_answer_that_closes_it(answer):
    with serving(Answer(raw=answer, hangup="after")) as server:
        client = Transport()
        outcomes = [post(server.base, client=client)[0] for _ in range(2)]
    assert [o.ok for o in outcomes] == [True, True]
    assert server.connections == 2


def test_a_redirect_is_a_failed_attempt_naming_its_location():
    moved = Answer(301, headers={"location": "https://new.example/hook"}, body=b"")
    with serving(moved) as server:
        (outcome,) = post(server.url)
    assert (outcome.ok, outcome.http_status) == (False, 301)
    assert outcome.error == "HTTP 301 redirect to https://new.example/hook: not followed"
    assert len(server.received) == 1


def test_hostile_answers_fail_their_own_request_only():
    endless_chunks = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",)
    endless_chunks += (b"10000\r\n" + b"x" * 0x10000 + b"\r\n",) * 40  # 2.5 MiB, no end
    answers = {
        "/ok": Answer(raw=NO_CONTENT),
        "/hang": Answer(hang=True),
        "/hang-up": Answer(hangup="before"),
        "/reset": Answer(reset=True),
        "/reset-mid-answer": Answer(body=b"x" * 100, reset="body"),
        "/endless-head": Answer(
            raw=(b"HTTP/1.1 200 OK\r\n",) + (b"x-filler: " + b"y" * 1000 + b"\r\n",) * 100
        ),
        "/endless-body": Answer(raw=endless_chunks),
        "/not-http": Answer(raw=b"SSH-2.0-OpenSSH_9.2\r\n\r\n"),
    }

    def respond(request: Received) -> Answer:
        return answers[request.path]

    with Sink(respond=respond) as server:
        outcomes = post(*(server.base + path for path in answers), timeout=1.0)
    ok, hang, hang_up, reset, reset_mid_answer, head, body, not_http = outcomes
    assert (ok.ok, ok.http_status) == (True, 204)
    assert hang.error == "timeout after 1 s" and 900 < hang.latency_ms < 1500
    assert hang_up.error == "connection closed before the answer was complete"
    assert reset.error == reset_mid_answer.error == "connection reset: ConnectionResetError"
    assert head.error.startswith("protocol error")
    # the status said delivered; the rest of the body is not read (the connection goes)
    assert (body.ok, body.excerpt) == (True, "x" * 512)
    assert not_http.error.startswith("protocol error")


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://127.0.0.1:99999/x", "invalid URL: the port is not a number from 1 to 65535"),
        ("http://[::1/x", "invalid URL: malformed URL: Invalid IPv6 URL"),
        ("http://user:hunter2@127.0.0.1/x", "invalid URL: the URL carries userinfo"),
        ("http://bücher.invalid/pfad/ä", "DNS lookup failed for xn--bcher-kva.invalid: "),
        ("https://no-such-host.invalid/", "DNS lookup failed for no-such-host.invalid: "),
    ],
)
def test_a_poisoned_url_fails_its_request_and_the_others_are_sent(url, error):
    with serving(Answer(raw=NO_CONTENT)) as server:
        outcomes = post(server.base, url, server.base)
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error.startswith(error)
    assert "hunter2" not in outcomes[1].error
    assert len(server.received) == 2


def test_a_non_ascii_path_is_sent_percent_encoded():
    with serving(Answer(raw=NO_CONTENT)) as server:
        (outcome,) = post(server.base + "/pfad/ä?q=é")
    assert outcome.ok
    assert (server.received[0].method, server.received[0].path) == ("POST", "/pfad/%C3%A4?q=%C3%A9")


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


def tls_server(ca, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def test_https_trusts_the_endpoints_ca_file(ca, tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with serving(Answer(raw=NO_CONTENT), tls_server(ca, "127.0.0.1")) as server:
        client = Transport()
        trusted = [post(server.base, ca_file=str(ca_file), client=client)[0] for _ in range(2)]
        (untrusted,) = post(server.base)  # the system's store does not know the throwaway CA
    assert [o.http_status for o in trusted] == [204, 204]
    assert server.connections == 1  # kept alive; the refused handshake never reached it
    assert untrusted.error.startswith("TLS certificate not accepted: unable to get local issuer")


def test_https_refuses_a_certificate_for_another_name(ca, tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with serving(Answer(raw=NO_CONTENT), tls_server(ca, "example.test")) as server:
        (outcome,) = post(server.base, ca_file=str(ca_file))
    assert not outcome.ok
    assert outcome.error.startswith("TLS certificate not accepted: IP address mismatch")


def test_an_unreadable_ca_file_is_a_failed_attempt(tmp_path):
    (outcome,) = post("https://127.0.0.1:9/", ca_file=str(tmp_path / "missing.pem"))
    assert outcome.error.startswith("TLS: cannot load ca_file")
    assert ca_file_problem(str(tmp_path / "missing.pem")) == outcome.error
