"""The real processes a scenario runs: `prospectpro worker` and `prospectpro serve`,
each logging to a file of its own so that a failure can show what it said."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

STOP_WITHIN = 30.0  # a round lasts at most the timeout (10 s) plus 2 s
READY_WITHIN = 30.0


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path
    killed: bool = False  # by the scenario, on purpose

    def tail(self, lines: int = 5) -> str:
        text = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

    def kill(self) -> None:
        self.killed = True
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(STOP_WITHIN)

    def stop(self) -> str | None:
        """SIGTERM, then wait; a complaint when it did not stop cleanly."""
        if self.killed:
            return None
        if self.popen.poll() is not None:
            return f"{self.name} exited by itself with {self.popen.returncode}: {self.tail()}"
        self.popen.terminate()
        try:
            code = self.popen.wait(STOP_WITHIN)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(STOP_WITHIN)
            return f"{self.name} ignored SIGTERM for {STOP_WITHIN:g} s"
        return None if code == 0 else f"{self.name} stopped with {code}: {self.tail()}"


def spawn(name: str, args: list[str], logs: Path, env: dict[str, str]) -> Process:
    log = logs / f"{name}.log"
    with open(log, "w") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "prospectpro", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LOG_LEVEL": "WARNING", **env},
        )
    return Process(name, popen, log)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_answering(process: Process, url: str) -> None:
    """Wait until a freshly started receiver answers ``url``."""
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited: {process.tail()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer {url} within {READY_WITHIN:g} s")
