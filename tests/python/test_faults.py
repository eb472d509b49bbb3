"""The fault suite in its shortened form (`make faults` runs the full one), and
the loopback pieces it is built on."""

from __future__ import annotations

import httpx
import pytest
from conftest import wait_until
from prospectpro_dev.faults import QUICK, SCENARIOS, run_suite
from prospectpro_dev.faults.proxy import RoundRobinProxy
from prospectpro_dev.faults.report import exit_status, render
from prospectpro_dev.faults.sink import Fault, FaultSink
from prospectpro_dev.faults.verify import Result


@pytest.fixture(scope="module")
def quick_run() -> dict[int, Result]:
    results = run_suite(QUICK)
    print("\n" + render(results))
    return {r.number: r for r in results}


@pytest.mark.parametrize("number", [s.number for s in SCENARIOS])
def test_scenario_loses_and_duplicates_nothing(quick_run, number):
    result = quick_run[number]
    assert result.committed > 0
    assert (result.lost, result.duplicates) == (0, 0), render([result])
    assert result.delivered == result.committed, render([result])
    assert result.problems == [], render([result])


def test_only_a_clean_run_exits_zero():
    clean = Result(1, "clean", committed=5, delivered=5, resent=2, unlogged=2)
    assert exit_status([clean]) == 0
    assert exit_status([clean, Result(2, "lost", committed=5, delivered=4, lost=1)]) == 1
    assert exit_status([Result(3, "twice", committed=5, delivered=5, duplicates=1)]) == 1
    assert exit_status([Result(4, "odd", committed=5, delivered=5, problems=["early"])]) == 1
    assert exit_status([]) == 1


def post(url: str, webhook_id: str) -> httpx.Response:
    return httpx.post(url, content=b"{}", headers={"webhook-id": webhook_id}, timeout=2)


def test_the_sink_answers_as_scripted_refuses_when_down_and_keeps_a_ledger():
    with FaultSink() as sink:
        sink.answer(Fault(503, headers={"retry-after": "1"}), Fault(reset="head"))
        answer = post(sink.url(), "a")
        assert (answer.status_code, answer.headers["retry-after"]) == (503, "1")
        with pytest.raises(httpx.TransportError):
            post(sink.url(), "a")
        sink.answer()
        assert post(sink.url(), "a").status_code == 200
        sink.down()
        with pytest.raises(httpx.ConnectError):
            post(sink.url(), "b")
        sink.up()
        assert post(sink.url(), "b").status_code == 200
        assert sink.ledger.requests == {"a": 3, "b": 1}
        # An answer is counted once written, a moment after the client has it.
        wait_until(lambda: sink.ledger.acked == {"a": 1, "b": 1}, timeout=2)


def test_the_proxy_spreads_connections_over_its_backends_and_keeps_a_ledger():
    with FaultSink() as one, FaultSink() as two:
        two.answer(Fault(500))
        with RoundRobinProxy([one.port, two.port]) as proxy:
            statuses = sorted(post(proxy.url(), f"w{n}").status_code for n in range(4))
        assert statuses == [200, 200, 500, 500]
        assert one.ledger.total() == two.ledger.total() == 2
        assert proxy.ledger.total() == 4
        wait_until(lambda: sum(proxy.ledger.acked.values()) == 2, timeout=2)
