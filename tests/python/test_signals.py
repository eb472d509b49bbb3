"""SIGTERM, as timeout, systemd or a container stop sends it, in the middle of
a run: the demo, the bench and the fault suite stop what they started (cluster,
receiver, workers) and remove their data directories, as on Ctrl-C; a worker
finishes its round and exits; the receiver exits cleanly."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from conftest import TOKEN, serve_receiver, wait_until
from prospectpro_dev.processes import Processes, spawn
from prospectpro_dev.sink import Answer

# Each command, and a line of its output after which it has a cluster and
# child processes at work.
COMMANDS = {
    "demo": (["prospectpro_dev.demo", "--leads", "30"], "leads inserted"),
    "faults": (["prospectpro_dev.faults", "--quick", "--only", "5"], "holding a transaction"),
    "bench": (["prospectpro_dev.bench", "--quick", "--only", "delivery"], "delivery:"),
}


def processes_using(directory: Path) -> dict[int, str]:
    """Processes whose working directory, command line or environment names
    ``directory`` (a postgres process's working directory is its data directory)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
            text = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if cwd.startswith(str(directory)) or str(directory).encode() in text:
            found[int(proc.name)] = text[:120].decode(errors="replace")
    return found


@pytest.fixture
def tmpdir_for_child():
    """A TMPDIR for the command: every cluster and log directory it makes is in
    there. Under /tmp and traversable, since PostgreSQL runs as another user."""
    path = Path(tempfile.mkdtemp(prefix="prospectpro-sigterm."))
    path.chmod(0o755)
    yield path
    for pid in processes_using(path):  # left behind by a failed test: they are its own
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("command", COMMANDS)
def test_sigterm_mid_run_leaves_no_process_and_no_data_directory(command, tmpdir_for_child):
    args, busy = COMMANDS[command]
    child = subprocess.Popen(
        [sys.executable, "-m", *args],
        env={**os.environ, "TMPDIR": str(tmpdir_for_child)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmpdir_for_child,  # the bench writes .bench/ and the demo .demo/ here
    )
    output = []
    try:
        for line in child.stdout:
            output.append(line)
            if busy in line:
                break
        assert any(tmpdir_for_child.glob("prospectpro-pg.*")), "".join(output)
        assert processes_using(tmpdir_for_child), "its cluster and children are running"
        child.send_signal(signal.SIGTERM)
        output += child.stdout.readlines()
        code = child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    text = "".join(output)
    assert code == 130, text
    assert "interrupted: everything the" in text
    assert processes_using(tmpdir_for_child) == {}
    assert not list(tmpdir_for_child.glob("prospectpro-*")), text


def test_a_worker_stopped_mid_round_finishes_the_round_and_loses_nothing(db, dsn, sink, tmp_path):
    sink.default = Answer(delay=0.5)  # a round of 10 takes half a second
    db.execute(
        "select prospectpro.configure_endpoint('lead_enrichment', %s, %s)", (sink.url, TOKEN)
    )
    db.execute(
        "select prospectpro._emit('lead_enrichment', jsonb_build_object('n', n))"
        " from generate_series(1, 50) as n"
    )
    worker_args = ("worker", "--database-url", dsn, "--batch", "10")
    worker = spawn("prospectpro", *worker_args, log=tmp_path / "worker.log")
    try:
        wait_until(lambda: sink.received, what="a round's first POST")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0, worker.tail()
    finally:
        worker.stop()
    delivered = {
        wid
        for (wid,) in db.execute(
            "select webhook_id::text from prospectpro.outbox where status = 'delivered'"
        )
    }
    assert 0 < len(delivered) < 50, "it stopped after its round, not after the queue"
    # Every POST of the round was answered and recorded before the worker left.
    wait_until(lambda: set(sink.ledger.acked) == delivered, timeout=2, what="the sink's ledger")
    with Processes() as procs:
        procs.spawn("prospectpro", *worker_args, log=tmp_path / "second.log")
        wait_until(
            lambda: db.execute(
                "select count(*) = 50 from prospectpro.outbox where status = 'delivered'"
            ).fetchone()[0],
            what="the rest delivered by another worker",
        )
    assert set(sink.ledger.acked.values()) == {1}, "no event was sent twice"


def test_the_receiver_stops_cleanly_on_sigterm(dsn, tmp_path):
    receiver, base = serve_receiver(dsn, tmp_path, {})
    try:
        httpx.get(base + "/metrics", timeout=5).raise_for_status()
        receiver.send_signal(signal.SIGTERM)
        assert receiver.wait(10) == 0
    finally:
        receiver.stop()
