"""Throwaway PostgreSQL clusters for tests, the demo, benchmarks and fault runs.

A cluster lives in a temporary directory, listens only on a Unix socket in
that directory, and runs as the ``postgres`` OS user when started as root
(PostgreSQL refuses to run as root).

    python -m prospectpro_dev.cluster -- COMMAND...   run COMMAND with PG* set
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .processes import children

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PRIMARY_DB = "prospectpro"
# pg_cron is Debian's, for PostgreSQL 15 only; other majors run without it.
HAS_PG_CRON = (PG_BIN.parent / "lib" / "pg_cron.so").exists()

# Fast but crash-safe: fsync=off survives a killed server (the OS keeps the
# pages), which is what the fault suite does; synchronous_commit stays on.
TEST_SETTINGS = {
    "listen_addresses": "''",
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
}
if HAS_PG_CRON:
    TEST_SETTINGS |= {
        "shared_preload_libraries": "'pg_cron'",
        "cron.database_name": f"'{PRIMARY_DB}'",
    }


def as_server_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class Cluster:
    """A PostgreSQL cluster in a temporary directory; stop() removes it."""

    def __init__(self, settings: dict[str, str] | None = None, port: int = 5432) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="prospectpro-pg."))
        self.data = self.dir / "data"
        self.port = port
        self.settings = {**TEST_SETTINGS, **(settings or {})}
        self.settings["unix_socket_directories"] = f"'{self.dir}'"
        if HAS_PG_CRON:
            self.settings["cron.host"] = f"'{self.dir}'"
        self.settings["port"] = str(port)
        self.log = self.dir / "server.log"

    # -- lifecycle -------------------------------------------------------
    def _run(self, *args: str) -> None:
        subprocess.run([*as_server_user(), *args], check=True, stdout=subprocess.DEVNULL)

    def init(self) -> None:
        self._own_dir()
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        self._configure()

    def _own_dir(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.dir.chmod(0o700)

    def _configure(self) -> None:
        # Appended: a later line wins over one copied from a primary.
        with open(self.data / "postgresql.auto.conf", "a") as conf:
            for key, value in self.settings.items():
                conf.write(f"{key} = {value}\n")

    def start(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        if self.running():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def pid(self) -> int:
        """The postmaster's process id (the first line of postmaster.pid)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def running(self) -> bool:
        """Its postmaster lives (a crashed one leaves its postmaster.pid behind)."""
        try:
            os.kill(self.pid(), 0)
        except (FileNotFoundError, ProcessLookupError):
            return False
        return True

    def crash(self) -> None:
        """SIGKILL the postmaster and every process of the server, as a machine
        dies. Not by process group: each child of the postmaster leads its own."""
        pid = self.pid()
        os.kill(pid, signal.SIGSTOP)  # forks no more while its children are listed
        for child in children(pid):
            with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                os.kill(child, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)

    def in_recovery(self) -> bool:
        return self.psql("select pg_is_in_recovery()") == "t"

    def __enter__(self) -> Cluster:
        try:
            self.init()
            self.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # -- connecting ------------------------------------------------------
    def dsn(self, dbname: str = PRIMARY_DB) -> str:
        return f"postgresql://postgres@/{dbname}?host={self.dir}&port={self.port}"

    def env(self, dbname: str = PRIMARY_DB) -> dict[str, str]:
        return {
            "PGHOST": str(self.dir),
            "PGPORT": str(self.port),
            "PGUSER": "postgres",
            "PGDATABASE": dbname,
            "DATABASE_URL": self.dsn(dbname),
        }

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        out = subprocess.run(
            [str(PG_BIN / "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
            env={**os.environ, **self.env(dbname)},
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def create_database(self, name: str, extensions: tuple[str, ...] = ("prospectpro",)) -> str:
        """Create a database with the given extensions; returns its DSN."""
        self.psql(f'create database "{name}"')
        for ext in extensions:
            self.psql(f"create extension {ext} cascade", dbname=name)
        return self.dsn(name)


class Standby(Cluster):
    """A streaming hot standby of ``primary``: pg_basebackup copies its data
    directory; ``settings`` override the copied ones."""

    def __init__(self, primary: Cluster, settings: dict[str, str] | None = None, port: int = 5432):
        super().__init__(settings, port)
        self.primary = primary
        # Written here, not by pg_basebackup -R: that one names every option of
        # its own libpq, which the server's walreceiver (another libpq) may refuse.
        self.settings["primary_conninfo"] = (
            f"'host={primary.dir} port={primary.port} user=postgres application_name=standby'"
        )

    def init(self) -> None:
        self._own_dir()
        self._run(
            str(PG_BIN / "pg_basebackup"), "-D", str(self.data), "-X", "stream",
            "-c", "fast", "--no-sync", "-h", str(self.primary.dir),
            "-p", str(self.primary.port), "-U", "postgres",
        )  # fmt: skip
        (self.data / "standby.signal").touch()
        self._configure()

    def promote(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "promote")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    with Cluster() as cluster:
        cluster.psql(f"create database {PRIMARY_DB}")
        print(f"throwaway cluster at {cluster.dir}", file=sys.stderr)
        return subprocess.run(argv, env={**os.environ, **cluster.env()}).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
