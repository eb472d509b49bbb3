"""The helpers for child processes and waiting (prospectpro_dev.processes)."""

from __future__ import annotations

import itertools
import time

import pytest
from prospectpro_dev.processes import Processes, free_port, spawn, stop, wait_answering, wait_until
from prospectpro_dev.sink import Answer, Sink


def test_wait_until_returns_the_first_truthy_value_or_names_what_it_waited_for():
    counter = itertools.count()
    assert wait_until(lambda: next(counter) >= 3 and "done", timeout=2) == "done"
    with pytest.raises(TimeoutError, match=r"the moon not met within 0\.1 s"):
        wait_until(lambda: False, timeout=0.1, what="the moon")


def test_wait_answering_waits_for_the_status_asked_for():
    with Sink() as sink:
        sink.answer(Answer(503), Answer(503))
        assert wait_answering(sink.base + "/health", timeout=5).status_code == 200
        assert len(sink.received) == 3
        sink.default = Answer(500, body=b"down for good")
        with pytest.raises(TimeoutError, match="HTTP 500: down for good"):
            wait_answering(sink.base, timeout=0.5)
        assert wait_answering(sink.base, status=None).status_code == 500


def test_a_server_that_exits_fails_the_wait_at_once_with_its_log(tmp_path):
    server = spawn("prospectpro", "serve", "--port", "no-port", log=tmp_path / "server.log")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"server exited with 2: .*invalid int value"):
        wait_answering(f"http://127.0.0.1:{free_port()}/", timeout=30, process=server)
    assert time.monotonic() - started < 20


def test_stop_complains_about_what_did_not_stop_cleanly(tmp_path):
    def server(name: str):
        args = ("--bind", "127.0.0.1", str(free_port()))
        return spawn("http.server", *args, log=tmp_path / f"{name}.log")

    with Processes() as group:
        running, killed = group.add(server("running")), group.add(server("killed"))
        done = group.spawn("json.tool", "--help", log=tmp_path / "done.log")
        done.wait(10)
        killed.kill()
        complaints = stop(running, done, killed)
    assert len(complaints) == 2
    assert complaints[0].startswith("done exited by itself with 0: ")
    assert "--compact" in complaints[0]  # the tail of its log: its usage
    assert complaints[1].startswith("running stopped with -15")  # no SIGTERM handler
    assert all(p.poll() is not None for p in (running, done, killed))
    assert group.running == []
