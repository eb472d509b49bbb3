"""Fixtures shared by the database tests: one throwaway cluster per run, a
fresh database with the extension per test, a loopback sink, and workers."""

from __future__ import annotations

import ipaddress
import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from prospectpro.app import ROUTES
from prospectpro_dev.cluster import HAS_PG_CRON, Cluster
from prospectpro_dev.sink import Sink
from prospectpro_dev.standins import provider_env, running_standins

TEMPLATE = "prospectpro_template"

needs_pg_cron = pytest.mark.skipif(
    not HAS_PG_CRON, reason="pg_cron is Debian's, for PostgreSQL 15 only: not in this server"
)
TOKEN = "e2e-token"
_names = itertools.count()


@pytest.fixture(scope="session")
def cluster():
    with Cluster() as c:
        c.psql("create database prospectpro")
        c.create_database(TEMPLATE)
        yield c


@pytest.fixture
def dsn(cluster):
    name = f"t{os.getpid()}_{next(_names)}"
    cluster.psql(f'create database "{name}" template {TEMPLATE}')
    yield cluster.dsn(name)
    cluster.psql(f'drop database "{name}" with (force)')


@pytest.fixture
def db(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def sink():
    with Sink() as s:
        yield s


@pytest.fixture
def start_worker(dsn):
    """Start `prospectpro worker` processes; all are stopped with SIGTERM at teardown."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prospectpro", "worker", "--database-url", dsn, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=20)


_connect_logs: list[list[str]] = []


def _stop_connects_beyond_loopback(event: str, args: tuple) -> None:
    """An audit hook: while a test records connects, each socket connect of this process is
    logged, and one to an address outside loopback is stopped before it is made."""
    if event != "socket.connect" or not _connect_logs or not isinstance(args[1], tuple):
        return
    host = args[1][0]
    for log in _connect_logs:
        log.append(host)
    if not ipaddress.ip_address(host.partition("%")[0]).is_loopback:
        raise PermissionError(f"the tests connect to loopback only, not to {host}")


sys.addaudithook(_stop_connects_beyond_loopback)  # hooks cannot be removed: it idles instead


@pytest.fixture
def connects():
    """The addresses this process connects sockets to during the test (any thread); a
    connect beyond loopback fails with PermissionError instead of sending anything."""
    log: list[str] = []
    _connect_logs.append(log)
    yield log
    _connect_logs.remove(log)


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.02):
    """Poll ``predicate`` until it returns a truthy value; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def start_receiver(dsn, tmp_path):
    """Start `prospectpro serve` on a free loopback port; returns its base URL."""
    procs: list[subprocess.Popen] = []

    def start(**env: str) -> str:
        proc, base = serve_receiver(dsn, tmp_path / "exports", env)
        procs.append(proc)
        return base

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def serve_receiver(
    dsn: str, export_dir, env: dict[str, str], log=None
) -> tuple[subprocess.Popen, str]:
    """`prospectpro serve` on a free loopback port, once it answers; its
    stderr goes to the file ``log`` (or nowhere). Returns it and its URL."""
    port = free_port()
    with open(log or os.devnull, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prospectpro", "serve", "--port", str(port)],
            env={
                **os.environ,
                "DATABASE_URL": dsn,
                "LOG_LEVEL": "WARNING",
                "EXPORT_DIR": str(export_dir),
                **env,
            },
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    base = f"http://127.0.0.1:{port}"

    def answering():
        try:
            return httpx.get(base + "/metrics", timeout=1).status_code == 200
        except httpx.TransportError:
            assert proc.poll() is None, "the receiver exited" + (
                f": {Path(log).read_text()}" if log else ""
            )
            return False

    wait_until(answering, timeout=20)
    return proc, base


@pytest.fixture
def standins():
    with running_standins() as base:
        yield base


@pytest.fixture
def start_pipeline(db, standins, start_receiver, start_worker):
    """A receiver (with the stand-in providers) and a worker, wired to each other
    for all three webhook types; returns the receiver's URL."""

    def start(**env: str) -> str:
        base = start_receiver(**{"WEBHOOK_AUTH_TOKEN": TOKEN, **provider_env(standins), **env})
        for webhook_type, path in ROUTES.items():
            db.execute(
                "select prospectpro.configure_endpoint(%s, %s, %s)",
                (webhook_type, base + path, TOKEN),
            )
        start_worker()
        return base

    return start
