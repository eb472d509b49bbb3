"""The fault suite in its shortened form (`make faults` runs the full one), and
the loopback pieces it is built on."""

from __future__ import annotations

import re
import socket

import httpx
import pytest
from prospectpro_dev.faults import QUICK, SCENARIOS, run_suite
from prospectpro_dev.faults.failover import PROMOTION_TO_DELIVERY
from prospectpro_dev.faults.proxy import RoundRobinProxy
from prospectpro_dev.faults.report import exit_status, render
from prospectpro_dev.faults.verify import Result
from prospectpro_dev.processes import wait_until
from prospectpro_dev.sink import Answer, Sink


@pytest.fixture(scope="module")
def quick_run() -> tuple[dict[int, Result], list[str]]:
    lines: list[str] = []
    results = run_suite(QUICK, say=lambda line: (lines.append(line), print(line)))
    print("\n" + render(results))
    return {r.number: r for r in results}, lines


@pytest.mark.parametrize("number", [s.number for s in SCENARIOS])
def test_scenario_loses_and_duplicates_nothing(quick_run, number):
    result = quick_run[0][number]
    assert result.committed > 0
    assert (result.lost, result.duplicates) == (0, 0), render([result])
    assert result.delivered == result.committed, render([result])
    assert result.problems == [], render([result])


def test_failover_reports_promotion_to_first_delivery(quick_run):
    """Scenario 10 prints the figure the issue asks for, and it is within bounds."""
    (line,) = [line for line in quick_run[1] if "promotion to the first delivery" in line]
    seconds = float(re.search(r"delivery: ([0-9.]+) s", line).group(1))
    assert 0 < seconds <= PROMOTION_TO_DELIVERY
    assert any("SIGKILL to the primary" in line for line in quick_run[1])


def test_only_a_clean_run_exits_zero():
    clean = Result(1, "clean", committed=5, delivered=5, resent=2, unlogged=2)
    assert exit_status([clean]) == 0
    assert exit_status([clean, Result(2, "lost", committed=5, delivered=4, lost=1)]) == 1
    assert exit_status([Result(3, "twice", committed=5, delivered=5, duplicates=1)]) == 1
    assert exit_status([Result(4, "odd", committed=5, delivered=5, problems=["early"])]) == 1
    assert exit_status([]) == 1


def post(url: str, webhook_id: str) -> httpx.Response:
    return httpx.post(url, content=b"{}", headers={"webhook-id": webhook_id}, timeout=2)


def test_the_sink_answers_in_a_cycle_refuses_when_down_and_keeps_a_ledger():
    with Sink() as sink:
        sink.cycle(Answer(503, headers={"retry-after": "1"}), Answer(reset="head"))
        for _ in range(2):
            answer = post(sink.url, "a")
            assert (answer.status_code, answer.headers["retry-after"]) == (503, "1")
            with pytest.raises(httpx.TransportError):
                post(sink.url, "a")
        sink.cycle()
        assert post(sink.url, "a").status_code == 200
        sink.down()
        with pytest.raises(httpx.ConnectError):
            post(sink.url, "b")
        sink.up()
        assert post(sink.url, "b").status_code == 200
        assert sink.ledger.requests == {"a": 5, "b": 1}
        # An answer is counted once written, a moment after the client has it.
        wait_until(lambda: sink.ledger.acked == {"a": 1, "b": 1}, timeout=2)


def test_the_proxy_spreads_connections_over_its_backends_and_keeps_a_ledger():
    with Sink() as one, Sink() as two:
        two.default = Answer(500)
        with RoundRobinProxy([one.port, two.port]) as proxy:
            statuses = sorted(post(proxy.url, f"w{n}").status_code for n in range(4))
        assert statuses == [200, 200, 500, 500]
        assert one.ledger.total() == two.ledger.total() == 2
        assert proxy.ledger.total() == 4
        wait_until(lambda: sum(proxy.ledger.acked.values()) == 2, timeout=2)


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n"


def exchange(sink: Sink, timeout: float = 5) -> tuple[bytes, str]:
    """What a raw client reads in answer to one request, and how the connection ended."""
    with socket.create_connection(("127.0.0.1", sink.port), timeout=timeout) as s:
        s.sendall(b"POST /hook HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        got = b""
        try:
            while chunk := s.recv(65536):
                got += chunk
        except ConnectionResetError:
            return got, "reset"
        except TimeoutError:
            return got, "open"
        return got, "closed"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (Answer(reset=True), (b"", "reset")),
        (Answer(reset="head"), (b"HTTP/1.1 200 OK\r\n", "reset")),
        (Answer(reset="body", body=b"0123456789"), (HEAD + b"01234", "reset")),
        (Answer(hangup="before"), (b"", "closed")),
        (Answer(hangup="after", body=b"0123456789"), (HEAD + b"0123456789", "closed")),
        (Answer(raw=(b"HTTP/1.1 2", 0.05, b"04 x\r\n\r\n"), hangup="after"),
         (b"HTTP/1.1 204 x\r\n\r\n", "closed")),
    ],
)  # fmt: skip
def test_the_sink_cuts_or_closes_where_its_answer_says(answer, expected):
    with Sink() as sink:
        sink.answer(answer)
        assert exchange(sink) == expected
        assert len(sink.received) == 1


def test_a_hanging_sink_holds_the_connection_until_it_goes_down():
    with Sink() as sink:
        sink.default = Answer(hang=True)
        with socket.create_connection(("127.0.0.1", sink.port), timeout=0.3) as s:
            s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            with pytest.raises(TimeoutError):
                s.recv(1)
            sink.down()  # drops the open connection
            s.settimeout(5)
            assert s.recv(1) == b""
        with pytest.raises(ConnectionRefusedError):
            exchange(sink)
        sink.up()
        sink.default = Answer(delay=0.2, body=b"0123456789")
        assert exchange(sink, timeout=1) == (HEAD + b"0123456789", "open")  # kept alive
        assert sink.connections == 2
