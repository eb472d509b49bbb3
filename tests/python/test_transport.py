"""The providers' HTTP transport against the loopback sink: keep-alive, the framings a
server may choose, connections the server closes, timeouts, errors."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import Callable

import httpx
import pytest
from prospectpro.providers import transport
from prospectpro.providers.transport import KeepAliveTransport, client
from prospectpro_dev.processes import free_port
from prospectpro_dev.sink import Answer, Received, Sink

# A raw answer, for the tests that need what h11 will not frame around it.
OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n{"ok": true}'


@contextlib.asynccontextmanager
async def serving(answer: Answer | Callable[[Received], Answer], tls: ssl.SSLContext | None = None):
    """A loopback sink answering every request with ``answer``, or with what
    ``answer(request)`` returns; yields it and its base URL."""
    with Sink(respond=answer if callable(answer) else None, tls=tls) as server:
        if not callable(answer):
            server.default = answer
        yield server, server.base


def run(coro):
    return asyncio.run(coro)


def test_consecutive_requests_share_one_keep_alive_connection():
    async def go():
        async with serving(Answer()) as (server, url), client() as http:
            answers = [await http.get(f"{url}/x", params={"q": "a b"}) for _ in range(5)]
            return server, answers

    server, answers = run(go())
    assert [a.json() for a in answers] == [{"ok": True}] * 5
    assert server.connections == 1
    assert (server.received[0].method, server.received[0].path) == ("GET", "/x?q=a+b")


def test_concurrent_requests_open_at_most_max_connections():
    async def go():
        transport = KeepAliveTransport(max_connections=3)
        async with (
            serving(Answer(delay=0.05)) as (server, url),
            httpx.AsyncClient(transport=transport) as http,
        ):
            await asyncio.gather(*(http.get(url) for _ in range(12)))
            return server.connections

    assert run(go()) == 3


def test_chunked_and_close_delimited_bodies_are_read_whole():
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    close_delimited = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end"

    def respond(request: Received) -> Answer:
        if request.path == "/chunked":
            return Answer(raw=chunked)
        return Answer(raw=close_delimited, hangup="after")

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
        async with serving(Answer(hangup="after")) as (server, url), client() as http:
            first = await http.get(url)
            await asyncio.sleep(0.05)
            second = await http.get(url)
            return first.status_code, second.status_code, server.connections, server.received

    first, second, connections, requests = run(go())
    assert (first, second, connections) == (200, 200, 2)
    assert len(requests) == 2  # the closed connection was not even tried


def test_a_request_the_server_hangs_up_on_is_sent_again_on_a_new_connection():
    async def go():
        async with serving(Answer()) as (server, url), client() as http:
            # The second request finds the connection going away.
            server.answer(Answer(), Answer(hangup="before"))
            first = await http.get(url)
            second = await http.get(url)
            return first.status_code, second.status_code, server.connections

    assert run(go()) == (200, 200, 2)


def test_an_answer_that_arrives_on_an_idle_connection_is_not_taken_for_the_next():
    timeout = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"

    async def go():
        unasked = Answer(raw=(OK, 0.02, timeout), hangup="after")
        async with serving(unasked) as (server, url), client() as http:
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
            serving(Answer()) as (a, url_a),
            serving(Answer()) as (b, url_b),
            serving(Answer()) as (c, url_c),
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
    with_cookie = Answer(headers={"set-cookie": "session=abc; Path=/"})

    async def go():
        async with serving(with_cookie) as (server, url), client() as http:
            await http.get(url)
            await http.get(url)
            return server.received

    assert not any("cookie" in request.headers for request in run(go()))


def test_a_body_not_read_to_its_end_closes_its_connection():
    async def go():
        async with serving(Answer(body=b"x" * 100000)) as (server, url), client() as http:
            async with http.stream("GET", url) as response:
                async for chunk in response.aiter_bytes():
                    assert chunk
                    break
            assert (await http.get(url)).content == b"x" * 100000
            return server.connections

    assert run(go()) == 2


def test_a_server_that_does_not_answer_in_time_is_a_read_timeout():
    async def go():
        async with serving(Answer(hang=True)) as (_, url), client() as http:
            await http.get(url, timeout=0.2)

    with pytest.raises(httpx.ReadTimeout):
        run(go())


def test_a_refused_connection_is_a_connect_error():
    port = free_port()  # nothing listens there

    async def go():
        async with client() as http:
            await http.get(f"http://127.0.0.1:{port}/")

    with pytest.raises(httpx.ConnectError):
        run(go())


def test_an_answer_that_is_not_http_is_a_protocol_error():
    async def go():
        async with serving(Answer(raw=b"SSH-2.0-OpenSSH\r\n\r\n")) as (_, url), client() as http:
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
            serving(Answer(), tls=server_tls) as (_, url),
            httpx.AsyncClient(transport=transport) as http,
        ):
            trusted = (await http.get(url)).json()
            async with client() as untrusting:
                with pytest.raises(httpx.ConnectError):
                    await untrusting.get(url)
            return trusted

    assert run(go()) == {"ok": True}
