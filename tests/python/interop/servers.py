"""Real HTTP servers no one here wrote, started on 127.0.0.1 for the delivery
interop suite: nginx, Node's `http` module, Python's http.server, uvicorn and
hypercorn.

Each runs in a throwaway directory with its own configuration, logs every
request it receives as "connection webhook-id path" (nginx in its access log,
the others from their handler), and is stopped when its ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import free_port

HERE = Path(__file__).parent
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Arrival:
    """One request as the server logged it."""

    connection: str
    webhook_id: str
    path: str


@dataclass(frozen=True)
class Endpoint:
    """Where a server listens, where it logs what it received, and the CA
    that vouches for its certificate (HTTPS only)."""

    base: str
    request_log: Path
    ca_file: Path | None = None

    def url(self, path: str) -> str:
        return self.base + path

    def arrivals(self) -> list[Arrival]:
        """Every request logged so far (a line still being written is not)."""
        text = self.request_log.read_text() if self.request_log.exists() else ""
        return [Arrival(*line.split()[:3]) for line in text.split("\n")[:-1]]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def throwaway_dir(name: str) -> Iterator[Path]:
    """A temporary directory others may read: the PostgreSQL server, running
    as its own OS user, reads the CA file written here."""
    path = Path(tempfile.mkdtemp(prefix=f"prospectpro-{name}."))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def running(argv: list[str], ports: list[int], workdir: Path, **env: str) -> Iterator[None]:
    """Run ``argv`` until the block ends; enter once every port accepts
    connections. Its output goes to workdir/output.log, quoted if it exits."""
    output = workdir / "output.log"
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            argv, cwd=workdir, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not all(_listening(p) for p in ports):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not start: {output.read_text()[-2000:]}")
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _which(program: str) -> str:
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin")
    if path is None:
        raise RuntimeError(f"{program} is not installed: run `make deps` (tools/install-deps)")
    return path


# nginx answers with `return`: the body of /body names the webhook-id it
# answers, so an answer read on the wrong request shows.
NGINX_LOCATIONS = """
        location = /body { return 200 '{"received": "$http_webhook_id"}'; }
        location = /accepted { return 202; }
        location = /empty { return 204; }
        location = /moved { return 301 $scheme://127.0.0.1:$server_port/landing; }
        location = /landing { return 200; }"""

NGINX_CONF = """\
{user}
worker_processes 1;
pid {dir}/nginx.pid;
events {{ worker_connections 512; }}
http {{
    default_type application/json;
    log_format interop '$connection $http_webhook_id $uri $connection_requests';
    access_log {dir}/requests.log interop;
    # nginx's defaults: connections kept alive 75 s, up to 1000 requests each.
    server {{
        listen 127.0.0.1:{port};{locations}
    }}
    server {{
        listen 127.0.0.1:{closing_port};
        keepalive_timeout 0;{locations}
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {dir}/server.pem;
        ssl_certificate_key {dir}/server.key;{locations}
    }}
}}
"""


@contextlib.contextmanager
def nginx() -> Iterator[dict[str, Endpoint]]:
    """Debian's nginx with three listeners: "keep-alive" (its defaults),
    "closing" (keepalive_timeout 0) and "tls" (HTTPS, a certificate for
    127.0.0.1 from a throwaway CA)."""
    with throwaway_dir("nginx") as workdir:
        _issue_tls(workdir)
        ports = {name: free_port() for name in ("keep_alive", "closing", "tls")}
        (workdir / "nginx.conf").write_text(
            NGINX_CONF.format(
                # As root, nginx would run its worker as nobody, who may not
                # write the logs in this directory.
                user="user root;" if os.geteuid() == 0 else "",
                dir=workdir,
                port=ports["keep_alive"],
                closing_port=ports["closing"],
                tls_port=ports["tls"],
                locations=NGINX_LOCATIONS,
            )
        )
        argv = [_which("nginx"), "-p", str(workdir), "-e", str(workdir / "error.log")]
        argv += ["-c", str(workdir / "nginx.conf"), "-g", "daemon off;"]
        log = workdir / "requests.log"
        with running(argv, list(ports.values()), workdir):
            yield {
                "keep-alive": Endpoint(f"http://127.0.0.1:{ports['keep_alive']}", log),
                "closing": Endpoint(f"http://127.0.0.1:{ports['closing']}", log),
                "tls": Endpoint(f"https://127.0.0.1:{ports['tls']}", log, workdir / "ca.pem"),
            }


def _issue_tls(workdir: Path) -> None:
    """A new throwaway CA in ca.pem (which the PostgreSQL server, as its own
    OS user, reads) and a certificate it issued for 127.0.0.1."""
    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(workdir / "ca.pem"))
    (workdir / "ca.pem").chmod(0o644)
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(workdir / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(workdir / "server.pem"))


def rotate_ca(tls: Endpoint) -> None:
    """Rotate the CA of nginx's "tls" listener: a new CA in the same ca.pem, its
    certificate served once nginx has reloaded (SIGHUP; the old worker closes
    its idle connections)."""
    workdir = tls.ca_file.parent
    _issue_tls(workdir)
    master = int((workdir / "nginx.pid").read_text())
    children = Path(f"/proc/{master}/task/{master}/children")
    old_workers = set(children.read_text().split())
    os.kill(master, signal.SIGHUP)
    # Until the old worker has exited it may still accept connections.
    deadline = time.monotonic() + START_TIMEOUT
    while old_workers & set(children.read_text().split()) or not children.read_text().split():
        if time.monotonic() > deadline:
            raise RuntimeError("nginx did not reload with the rotated certificate")
        time.sleep(0.05)


@contextlib.contextmanager
def node() -> Iterator[Endpoint]:
    """Node's `http` module running node_server.js."""
    with throwaway_dir("node") as workdir:
        port, log = free_port(), workdir / "requests.log"
        argv = [_which("node"), str(HERE / "node_server.js"), str(port), str(log)]
        with running(argv, [port], workdir):
            yield Endpoint(f"http://127.0.0.1:{port}", log)


@contextlib.contextmanager
def http_server(protocol: str) -> Iterator[Endpoint]:
    """Python's http.server (threading) running stdlib_server.py, answering
    as ``protocol`` (HTTP/1.0 or HTTP/1.1)."""
    with throwaway_dir("http.server") as workdir:
        port, log = free_port(), workdir / "requests.log"
        argv = [sys.executable, str(HERE / "stdlib_server.py"), str(port), str(log), protocol]
        with running(argv, [port], workdir):
            yield Endpoint(f"http://127.0.0.1:{port}", log)


ASGI_SERVERS = {
    "uvicorn": ["-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--no-access-log"],
    "hypercorn": ["-m", "hypercorn", "--bind", "127.0.0.1:{port}"],
}


@contextlib.contextmanager
def asgi(server: str) -> Iterator[Endpoint]:
    """uvicorn or hypercorn serving asgi_app.py."""
    with throwaway_dir(server) as workdir:
        port, log = free_port(), workdir / "requests.log"
        argv = [sys.executable, *(a.format(port=port) for a in ASGI_SERVERS[server])]
        argv.append("asgi_app:app")
        with running(argv, [port], workdir, PYTHONPATH=str(HERE), INTEROP_REQUEST_LOG=str(log)):
            yield Endpoint(f"http://127.0.0.1:{port}", log)
