"""The providers' HTTP transport against the loopback sink: keep-alive, the framings a
server may choose, connections the server closes, timeouts, errors, and the address
policy (no test connects beyond loopback: see the ``connects`` fixture)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
import subprocess
from collections.abc import Callable

import httpx
import pytest
from prospectpro.providers import provider_transport as transport
from prospectpro.providers.provider_transport import (
    CONFIGURED_DESTINATION,
    AddressRefused,
    KeepAliveTransport,
)
from prospectpro_dev.processes import free_port
from prospectpro_dev.sink import Answer, Received, Sink

# The servers here are on loopback, which the address policy refuses unless admitted.
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


def client() -> httpx.AsyncClient:
    """The providers' client, admitting these tests' servers."""
    return transport.client(allow_networks=LOOPBACK)


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
        transport = KeepAliveTransport(max_connections=3, allow_networks=LOOPBACK)
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
        transport = KeepAliveTransport(ssl_context=trusting, allow_networks=LOOPBACK)
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


# -- the address policy ---------------------------------------------------------------------


def resolving(names: dict[str, list[str]], asked: list[str] | None = None):
    """A resolver that answers from ``names`` (a list of answers is given out in turn, the
    last one for good), noting each name asked in ``asked``."""

    async def resolve(host: str, port: int) -> list[str]:
        if asked is not None:
            asked.append(host)
        answers = names[host]
        return [answers.pop(0) if len(answers) > 1 else answers[0]]

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/", "private address: 10.0.0.1 (private)"),
        ("http://169.254.169.254/latest/", "private address: 169.254.169.254 (link-local)"),
        ("https://100.100.100.200/", "private address: 100.100.100.200 (CGNAT)"),
        ("http://[::ffff:a9fe:a9fe]/", "private address: ::ffff:a9fe:a9fe (link-local)"),
        ("http://[fd00:ec2::254]/", "private address: fd00:ec2::254 (unique local)"),
        ("http://127.0.0.1:9/", "private address: 127.0.0.1 (loopback)"),
        ("http://[::1]:9/", "private address: ::1 (loopback)"),
        ("http://0.0.0.0:9/", "private address: 0.0.0.0 (unspecified)"),
    ],
)
def test_a_private_address_in_the_url_is_refused_before_any_socket(connects, url, reason):
    async def go():
        async with transport.client() as http:
            await http.get(url)

    with pytest.raises(AddressRefused) as refused:
        run(go())
    assert str(refused.value) == reason
    assert connects == []


def test_a_name_is_judged_by_the_addresses_it_resolves_to(connects):
    asked: list[str] = []
    names = {"intranet.test": ["10.1.2.3"], "metadata.test": ["169.254.169.254"]}

    async def go():
        reasons = []
        policy = transport.KeepAliveTransport(resolver=resolving(names, asked))
        async with httpx.AsyncClient(transport=policy) as http:
            for name in names:
                with pytest.raises(AddressRefused) as refused:
                    await http.get(f"http://{name}/")
                reasons.append(str(refused.value))
        return reasons

    assert run(go()) == [
        "private address: intranet.test is 10.1.2.3 (private)",
        "private address: metadata.test is 169.254.169.254 (link-local)",
    ]
    assert asked == ["intranet.test", "metadata.test"]
    assert connects == []


def test_a_name_is_connected_to_at_an_address_checked_and_keeps_its_host_header(connects):
    async def go():
        async with serving(Answer()) as (server, url):
            port = url.rpartition(":")[2]
            names = {"shop.test": ["10.0.0.1", "127.0.0.1"]}

            async def both(host: str, port: int) -> list[str]:
                return names[host]  # a private address first, then the loopback server

            policy = KeepAliveTransport(resolver=both, allow_networks=LOOPBACK)
            async with httpx.AsyncClient(transport=policy) as http:
                answer = await http.get(f"http://shop.test:{port}/page")
            return answer.status_code, server.received, port

    status, requests, port = run(go())
    assert status == 200
    assert connects == ["127.0.0.1"]  # never 10.0.0.1
    assert requests[0].headers["host"] == f"shop.test:{port}"


def test_each_new_connection_is_checked_so_a_name_rebound_to_a_private_address_is_refused(
    connects,
):
    closing = Answer(body=b"", headers={"connection": "close"})
    asked: list[str] = []

    async def go():
        async with serving(closing) as (server, url):
            port = url.rpartition(":")[2]
            rebinding = resolving({"shop.test": ["127.0.0.1", "10.0.0.1"]}, asked)
            policy = KeepAliveTransport(resolver=rebinding, allow_networks=LOOPBACK)
            async with httpx.AsyncClient(transport=policy) as http:
                first = await http.get(f"http://shop.test:{port}/")
                with pytest.raises(AddressRefused, match=r"shop\.test is 10\.0\.0\.1 \(private\)"):
                    await http.get(f"http://shop.test:{port}/")
            return first.status_code, server.connections

    assert run(go()) == (200, 1)
    assert asked == ["shop.test", "shop.test"]
    assert connects == ["127.0.0.1"]


def test_https_to_a_name_speaks_tls_to_that_name_at_the_address_checked(tmp_path, connects):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=shop.test", "-addext", "subjectAltName=DNS:shop.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    server_names: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, context: server_names.append(name)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def go():
        async with serving(Answer(), tls=server_tls) as (server, url):
            port = url.rpartition(":")[2]
            policy = KeepAliveTransport(
                ssl_context=trusting,
                resolver=resolving({"shop.test": ["127.0.0.1"]}),
                allow_networks=LOOPBACK,
            )
            async with httpx.AsyncClient(transport=policy) as http:
                answer = await http.get(f"https://shop.test:{port}/")
            return answer.json(), server.received

    assert run(go())[0] == {"ok": True}  # the certificate names shop.test, not 127.0.0.1
    assert server_names == ["shop.test"]
    assert connects == ["127.0.0.1"]


def test_a_configured_destination_is_exempt_and_its_connection_lent_to_no_other_request(
    connects,
):
    async def go():
        async with serving(Answer()) as (server, url), transport.client() as http:
            configured = await http.get(url, extensions={CONFIGURED_DESTINATION: True})
            with pytest.raises(AddressRefused, match="loopback"):
                await http.get(url)  # the same origin, as a lead's website
            return configured.status_code, server.connections, len(server.received)

    assert run(go()) == (200, 1, 1)
    assert connects == ["127.0.0.1"]
