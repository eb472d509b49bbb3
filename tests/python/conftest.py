"""Fixtures shared by the database tests: one throwaway cluster per run, a
fresh database with the extension per test, a loopback sink, and workers."""

from __future__ import annotations

import ipaddress
import itertools
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from prospectpro.app import ROUTES
from prospectpro_dev.cluster import HAS_PG_CRON, Cluster
from prospectpro_dev.processes import (  # noqa: F401 (free_port, wait_until: for the tests)
    Process,
    Processes,
    free_port,
    spawn,
    wait_answering,
    wait_until,
)
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
        # As a worker or prune makes them: tests run on time partitions.
        c.psql("select prospectpro.maintain_partitions()", dbname=TEMPLATE)
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
    with Processes(timeout=20) as procs:

        def start(*args: str) -> Process:
            worker = ("worker", "--database-url", dsn, *args)
            return procs.spawn("prospectpro", *worker, stdout=subprocess.DEVNULL)

        yield start


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


@pytest.fixture
def start_receiver(dsn, tmp_path):
    """Start `prospectpro serve` on a free loopback port; returns its base URL."""
    with Processes(timeout=10) as procs:

        def start(**env: str) -> str:
            proc, base = serve_receiver(dsn, tmp_path / "exports", env)
            procs.add(proc)
            return base

        yield start


def serve_receiver(dsn: str, export_dir, env: dict[str, str], log=None) -> tuple[Process, str]:
    """`prospectpro serve` on a free loopback port, once it answers; its
    output goes to the file ``log`` (or nowhere). Returns it and its URL."""
    port = free_port()
    env = {"DATABASE_URL": dsn, "LOG_LEVEL": "WARNING", "EXPORT_DIR": str(export_dir), **env}
    args = ("serve", "--port", str(port))
    quiet = {} if log else {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = spawn("prospectpro", *args, env=env, log=log and Path(log), **quiet)
    base = f"http://127.0.0.1:{port}"
    wait_answering(base + "/metrics", timeout=20, process=proc)
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
