"""Child processes and waiting, for the tests, the demo, the bench and the
fault suite: free loopback ports, `python -m ...` children with a log of their
own, stopping them (SIGTERM, then SIGKILL), and waiting until a condition
holds or a URL answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

HOST = "127.0.0.1"
STOP_WITHIN = 30.0  # a worker's round lasts at most its timeout (10 s) plus a little
T = TypeVar("T")


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()
    except OSError:
        return None


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    return [
        int(entry)
        for entry in os.listdir("/proc")
        if entry.isdigit() and (proc_stat(int(entry)) or [None, None])[1] == str(pid)
    ]


def interrupt_on_sigterm() -> None:
    """Take SIGTERM (timeout, systemd, a container stop) as Ctrl-C: raise
    KeyboardInterrupt in the main thread, so that the ``with`` blocks stop what
    they started and remove their clusters on the way out. SIGTERM reaches this
    process alone, not its children and servers, as Ctrl-C's SIGINT would."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(
    predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll ``predicate`` until it returns a truthy value, which is returned;
    TimeoutError (naming ``what``) past ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what or 'condition'} not met within {timeout:g} s")
        time.sleep(interval)
    return value


class Process(subprocess.Popen):
    """A child ``python -m MODULE ...``: a Popen with a name and, when it has
    one, the log file its stdout and stderr go to."""

    def __init__(self, name: str, args: list[str], log: Path | None, **popen: Any) -> None:
        self.name = name
        self.log = log
        self.killed = False  # on purpose: stop() does not complain about it
        super().__init__(args, **popen)

    def tail(self, lines: int = 5) -> str:
        """The last lines of its log, on one line."""
        if self.log is None or not self.log.exists():
            return "(no log)"
        text = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

    def kill(self) -> None:
        """SIGKILL, on purpose (stop() then expects it dead), and reap it."""
        self.killed = True
        super().kill()
        self.wait(STOP_WITHIN)

    def stop(self, timeout: float = STOP_WITHIN) -> str | None:
        """SIGTERM and wait; a complaint when it did not stop cleanly."""
        return next(iter(stop(self, timeout=timeout)), None)


def spawn(
    module: str,
    *args: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    name: str | None = None,
    **popen: Any,
) -> Process:
    """Start ``python -m MODULE ARGS`` with this interpreter and the environment
    plus ``env``. With ``log``, stdout and stderr both go to that file (and
    ``tail()`` reads it); otherwise ``popen`` (stdout=..., stderr=...) decides."""
    command = [sys.executable, "-m", module, *args]
    full_env = {**os.environ, **(env or {})}
    name = name or (log.stem if log else args[0] if args else module)
    if log is None:
        return Process(name, command, None, env=full_env, **popen)
    with open(log, "wb") as out:
        return Process(
            name, command, log, env=full_env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, **popen,
        )  # fmt: skip


def stop(*processes: Process, timeout: float = STOP_WITHIN) -> list[str]:
    """SIGTERM every running process at once, then wait for each (SIGKILL past
    ``timeout``). Returns complaints: exited by itself, ignored SIGTERM, or
    stopped with a non-zero status."""
    complaints, running = [], []
    for process in processes:
        if process.killed:
            continue
        if process.poll() is not None:
            code = process.returncode
            complaints.append(f"{process.name} exited by itself with {code}: {process.tail()}")
            continue
        process.terminate()
        running.append(process)
    for process in running:
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout)
            complaints.append(f"{process.name} ignored SIGTERM for {timeout:g} s")
            continue
        if code != 0:
            complaints.append(f"{process.name} stopped with {code}: {process.tail()}")
    return complaints


class Processes:
    """A group of children, all stopped on leaving the ``with`` block."""

    def __init__(self, timeout: float = STOP_WITHIN) -> None:
        self.running: list[Process] = []
        self.timeout = timeout

    def spawn(self, module: str, *args: str, **options: Any) -> Process:
        """spawn(), kept in the group."""
        return self.add(spawn(module, *args, **options))

    def add(self, process: Process) -> Process:
        """Keep a process started elsewhere in the group."""
        self.running.append(process)
        return process

    def stop(self, *processes: Process) -> list[str]:
        """Stop these (all, when none is named) and forget them; complaints as stop()."""
        chosen = list(processes or self.running)
        self.running = [p for p in self.running if p not in chosen]
        return stop(*chosen, timeout=self.timeout)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_answering(
    url: str, status: int | None = 200, timeout: float = 30.0, process: Process | None = None
) -> httpx.Response:
    """Wait until GET ``url`` answers (with ``status``; None: with anything) and
    return the answer. A ``process`` (the server) that exits meanwhile fails
    the wait at once, with the tail of its log."""
    last = "no answer"

    def answered() -> httpx.Response | None:
        nonlocal last
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.returncode}: {process.tail()}")
        try:
            response = httpx.get(url, timeout=1)
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}"
            return None
        if status is None or response.status_code == status:
            return response
        last = f"HTTP {response.status_code}: {response.text[:300]}"
        return None

    try:
        return wait_until(answered, timeout, interval=0.1)
    except TimeoutError:
        tail = f"; {process.name}: {process.tail()}" if process is not None else ""
        raise TimeoutError(f"{url} did not answer within {timeout:g} s ({last}){tail}") from None
