"""The HTTP clients against a raw HTTP/1.1 server on loopback: keep-alive, the
framings a server may choose, connections the server closes, hangs, resets, endless
answers, TLS. First the providers' transport (httpx over h11), then the delivery
client the database POSTs webhooks with (prospectpro_pl.transport)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import struct
import subprocess
import threading

import httpx
import pytest
import trustme
from prospectpro.providers import transport
from prospectpro.providers.transport import KeepAliveTransport, client
from prospectpro_pl.transport import Request, Transport, ca_file_problem

RESET = object()
OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n{"ok": true}'


class RawServer:
    """Answers each request with what ``answer(path)`` returns: raw bytes, or a list of
    steps (bytes to send, seconds to wait, None to hang up, RESET to reset the
    connection). Counts the connections it accepted and those the client closed."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.connections = 0
        self.closed_by_client = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError):
            while await self._answer(reader, writer):
                pass
        writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            self.closed_by_client += 1
            return False
        length = re.search(rb"(?im)^content-length: *(\d+)", head)
        self.requests.append(head + await reader.readexactly(int(length[1]) if length else 0))
        steps = await self.answer(head.split(b" ")[1].decode())
        for step in steps if isinstance(steps, list) else [steps]:
            if step is None:
                return False
            if step is RESET:  # RST instead of FIN: linger 0, then close
                writer.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                writer.transport.abort()
                return False
            if isinstance(step, float):
                await asyncio.sleep(step)
                continue
            writer.write(step)
            await writer.drain()
            if b"connection: close" in step:
                return False
        return True


@contextlib.asynccontextmanager
async def serving(answer, tls: ssl.SSLContext | None = None):
    server = RawServer(answer)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server, f"{'https' if tls else 'http'}://127.0.0.1:{port}"


def run(coro):
    return asyncio.run(coro)


def constant(answer: bytes):
    async def respond(path: str) -> bytes:
        return answer

    return respond


def test_consecutive_requests_share_one_keep_alive_connection():
    async def go():
        async with serving(constant(OK)) as (server, url), client() as http:
            answers = [await http.get(f"{url}/x", params={"q": "a b"}) for _ in range(5)]
            return server, answers

    server, answers = run(go())
    assert [a.json() for a in answers] == [{"ok": True}] * 5
    assert server.connections == 1
    assert server.requests[0].startswith(b"GET /x?q=a+b HTTP/1.1\r\n")


def test_concurrent_requests_open_at_most_max_connections():
    async def slow(path: str) -> bytes:
        await asyncio.sleep(0.05)
        return OK

    async def go():
        transport = KeepAliveTransport(max_connections=3)
        async with serving(slow) as (server, url), httpx.AsyncClient(transport=transport) as http:
            await asyncio.gather(*(http.get(url) for _ in range(12)))
            return server.connections

    assert run(go()) == 3


def test_chunked_and_close_delimited_bodies_are_read_whole():
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    close_delimited = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end"

    async def respond(path: str) -> bytes:
        return chunked if path == "/chunked" else close_delimited

    async def go():
        async with serving(respond) as (server, url), client() as http:
            texts = [(await http.get(f"{url}{p}")).text for p in ("/chunked", "/close", "/chunked")]
            return texts, server.connections

    texts, connections = run(go())
    assert texts == ["hello world", "until the end", "hello world"]
    assert connections == 2  # the close-delimited answer cannot leave its connection open


def test_an_idle_connection_the_server_closed_is_not_reused():
    async def go():
        # The server hangs up after answering, without a connection: close header.
        async with serving(constant([OK, None])) as (server, url), client() as http:
            first = await http.get(url)
            await asyncio.sleep(0.05)
            second = await http.get(url)
            return first.status_code, second.status_code, server.connections, server.requests

    first, second, connections, requests = run(go())
    assert (first, second, connections) == (200, 200, 2)
    assert len(requests) == 2  # the closed connection was not even tried


def test_a_request_the_server_hangs_up_on_is_sent_again_on_a_new_connection():
    answers = iter([OK, None, OK])  # the second request finds the connection going away

    async def respond(path: str) -> bytes | None:
        return next(answers)

    async def go():
        async with serving(respond) as (server, url), client() as http:
            first = await http.get(url)
            second = await http.get(url)
            return first.status_code, second.status_code, server.connections

    assert run(go()) == (200, 200, 2)


def test_an_answer_that_arrives_on_an_idle_connection_is_not_taken_for_the_next():
    timeout = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"

    async def go():
        async with serving(constant([OK, 0.02, timeout])) as (server, url), client() as http:
            first = await http.get(url)
            await asyncio.sleep(0.1)  # the unasked 408 arrives meanwhile
            second = await http.get(url)
            return first.status_code, second.status_code, server.connections

    assert run(go()) == (200, 200, 2)


def test_idle_connections_expire_and_are_capped(monkeypatch):
    monkeypatch.setattr(transport, "KEEPALIVE_EXPIRY", 0.2)
    monkeypatch.setattr(transport, "MAX_IDLE", 2)

    async def go():
        async with (
            serving(constant(OK)) as (a, url_a),
            serving(constant(OK)) as (b, url_b),
            serving(constant(OK)) as (c, url_c),
            client() as http,
        ):
            for url in (url_a, url_b, url_c):
                await http.get(url)
            await asyncio.sleep(0.05)
            capped = (a.closed_by_client, b.closed_by_client, c.closed_by_client)
            await asyncio.sleep(0.3)
            await http.get(url_c)  # a request past the expiry closes what expired
            await asyncio.sleep(0.05)
            return capped, (b.closed_by_client, c.closed_by_client, c.connections)

    capped, expired = run(go())
    assert capped == (1, 0, 0)  # the oldest of three idle connections, over the cap of 2
    assert expired == (1, 1, 2)


def test_cookies_a_site_sets_are_not_sent_back():
    with_cookie = (
        b"HTTP/1.1 200 OK\r\nset-cookie: session=abc; Path=/\r\ncontent-length: 12\r\n\r\n"
        b'{"ok": true}'
    )

    async def go():
        async with serving(constant(with_cookie)) as (server, url), client() as http:
            await http.get(url)
            await http.get(url)
            return server.requests

    assert not any(b"cookie" in head.lower() for head in run(go()))


def test_a_body_not_read_to_its_end_closes_its_connection():
    big = b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"x" * 100000

    async def go():
        async with serving(constant(big)) as (server, url), client() as http:
            async with http.stream("GET", url) as response:
                async for chunk in response.aiter_bytes():
                    assert chunk
                    break
            assert (await http.get(url)).content == b"x" * 100000
            return server.connections

    assert run(go()) == 2


def test_a_server_that_does_not_answer_in_time_is_a_read_timeout():
    async def hang(path: str) -> bytes:
        await asyncio.sleep(5)
        return OK

    async def go():
        async with serving(hang) as (_, url), client() as http:
            await http.get(url, timeout=0.2)

    with pytest.raises(httpx.ReadTimeout):
        run(go())


def test_a_refused_connection_is_a_connect_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed

    async def go():
        async with client() as http:
            await http.get(f"http://127.0.0.1:{port}/")

    with pytest.raises(httpx.ConnectError):
        run(go())


def test_an_answer_that_is_not_http_is_a_protocol_error():
    async def go():
        async with serving(constant(b"SSH-2.0-OpenSSH\r\n\r\n")) as (_, url), client() as http:
            await http.get(url)

    with pytest.raises(httpx.RemoteProtocolError):
        run(go())


def test_https_is_spoken_with_the_given_tls_context(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def go():
        transport = KeepAliveTransport(ssl_context=trusting)
        async with (
            serving(constant(OK), tls=server_tls) as (_, url),
            httpx.AsyncClient(transport=transport) as http,
        ):
            trusted = (await http.get(url)).json()
            async with client() as untrusting:
                with pytest.raises(httpx.ConnectError):
                    await untrusting.get(url)
            return trusted

    assert run(go()) == {"ok": True}


# ---------------------------------------------------------------------------
# The delivery client (prospectpro_pl.transport): it runs its own event loop,
# so the raw server runs on a loop in a thread of its own.


@contextlib.contextmanager
def serving_in_thread(answer, tls: ssl.SSLContext | None = None):
    loop = asyncio.new_event_loop()
    server = RawServer(answer)
    listener = loop.run_until_complete(asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        port = listener.sockets[0].getsockname()[1]
        yield server, f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        listener.close()
        loop.run_until_complete(cancel(asyncio.all_tasks(loop)))
        loop.close()


async def cancel(tasks: set[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def post(*urls: str, timeout: float = 2.0, ca_file: str | None = None, client=None):
    """POST one webhook to each URL in one call, as a delivery round does."""
    requests = [
        Request(u, {"authorization": "Bearer tok"}, b'{"n": 1}', timeout, 4, ca_file) for u in urls
    ]
    return (client or Transport()).post_all(requests, start_within=2.0)


def by_path(answers: dict[str, bytes | list]):
    async def respond(path: str):
        return answers[path]

    return respond


NO_CONTENT = b"HTTP/1.1 204 No Content\r\nserver: x\r\n\r\n"
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n"


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
    with serving_in_thread(constant(answer)) as (server, url):
        client = Transport()
        outcomes = [post(f"{url}/a", client=client)[0] for _ in range(3)]
    assert [(o.http_status, o.excerpt) for o in outcomes] == [(status, excerpt)] * 3
    assert [o.ok for o in outcomes] == [200 <= status < 300] * 3
    assert len(server.requests) == 3 and server.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\n\r\nuntil the end",  # close-delimited
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",  # 1.0 without keep-alive
    ],
)
def test_delivery_opens_a_new_connection_after_an_answer_that_closes_it(answer):
    with serving_in_thread(constant([answer, None])) as (server, url):
        client = Transport()
        outcomes = [post(url, client=client)[0] for _ in range(2)]
    assert [o.ok for o in outcomes] == [True, True]
    assert server.connections == 2


def test_a_redirect_is_a_failed_attempt_naming_its_location():
    moved = b"HTTP/1.1 301 Moved Permanently\r\nlocation: https://new.example/hook\r\n"
    moved += b"content-length: 0\r\n\r\n"
    with serving_in_thread(constant(moved)) as (server, url):
        (outcome,) = post(url)
    assert (outcome.ok, outcome.http_status) == (False, 301)
    assert outcome.error == "HTTP 301 redirect to https://new.example/hook: not followed"
    assert len(server.requests) == 1


def test_hostile_answers_fail_their_own_request_only():
    endless_chunks = [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]
    endless_chunks += [b"10000\r\n" + b"x" * 0x10000 + b"\r\n"] * 40  # 2.5 MiB, no end
    answers = {
        "/ok": NO_CONTENT,
        "/hang": [5.0, OK],
        "/hang-up": None,
        "/reset": RESET,
        "/reset-mid-answer": [b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart", RESET],
        "/endless-head": [b"HTTP/1.1 200 OK\r\n"] + [b"x-filler: " + b"y" * 1000 + b"\r\n"] * 100,
        "/endless-body": endless_chunks,
        "/not-http": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    }
    with serving_in_thread(by_path(answers)) as (_, url):
        outcomes = post(*(url + path for path in answers), timeout=1.0)
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
    with serving_in_thread(constant(NO_CONTENT)) as (server, good):
        outcomes = post(good, url, good)
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error.startswith(error)
    assert "hunter2" not in outcomes[1].error
    assert len(server.requests) == 2


def test_a_non_ascii_path_is_sent_percent_encoded():
    with serving_in_thread(constant(NO_CONTENT)) as (server, url):
        (outcome,) = post(url + "/pfad/ä?q=é")
    assert outcome.ok
    assert server.requests[0].startswith(b"POST /pfad/%C3%A4?q=%C3%A9 HTTP/1.1\r\n")


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
    with serving_in_thread(constant(NO_CONTENT), tls_server(ca, "127.0.0.1")) as (server, url):
        client = Transport()
        trusted = [post(url, ca_file=str(ca_file), client=client)[0] for _ in range(2)]
        (untrusted,) = post(url)  # the system's store does not know the throwaway CA
    assert [o.http_status for o in trusted] == [204, 204]
    assert server.connections == 1  # kept alive; the refused handshake never reached it
    assert untrusted.error.startswith("TLS certificate not accepted: unable to get local issuer")


def test_https_refuses_a_certificate_for_another_name(ca, tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with serving_in_thread(constant(NO_CONTENT), tls_server(ca, "example.test")) as (_, url):
        (outcome,) = post(url, ca_file=str(ca_file))
    assert not outcome.ok
    assert outcome.error.startswith("TLS certificate not accepted: IP address mismatch")


def test_an_unreadable_ca_file_is_a_failed_attempt(tmp_path):
    (outcome,) = post("https://127.0.0.1:9/", ca_file=str(tmp_path / "missing.pem"))
    assert outcome.error.startswith("TLS: cannot load ca_file")
    assert ca_file_problem(str(tmp_path / "missing.pem")) == outcome.error
