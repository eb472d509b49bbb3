"""What `pip install ./receiver` installs: the service, none of the tooling."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECEIVER = ROOT / "receiver"
SERVICE = {"app", "auth", "batches", "cli", "metrics", "pipeline", "schemas", "worker"}
TOOLING = {"bench", "faults", "standins", "cluster", "sink", "processes", "demo", "prospectpro_dev"}


def _wheel(source: Path, tmp_path: Path) -> zipfile.ZipFile:
    """The wheel pip builds from ``source``, as a user's `pip install` would."""
    copy = tmp_path / "src"  # build from a copy: no build/ or egg-info in the tree
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(copy)],
        check=True,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    return zipfile.ZipFile(wheel)


def _modules(wheel: zipfile.ZipFile) -> set[str]:
    """Module and package names (path parts, without .py) in a wheel."""
    return {part.removesuffix(".py") for name in wheel.namelist() for part in Path(name).parts}


def test_the_receiver_wheel_holds_the_service_and_no_tooling(tmp_path):
    modules = _modules(_wheel(RECEIVER, tmp_path))
    assert modules >= SERVICE
    assert not modules & TOOLING


def test_the_tooling_is_a_distribution_of_its_own(tmp_path):
    modules = _modules(_wheel(RECEIVER / "dev", tmp_path))
    assert modules >= TOOLING
    assert not modules & SERVICE


def test_the_receiver_wheel_ships_the_contracts_as_in_the_tree(tmp_path):
    """The payload JSON Schemas, linked from the extension's package, ship as files."""
    wheel = _wheel(RECEIVER, tmp_path)
    shipped = {
        Path(name).name: wheel.read(name)
        for name in wheel.namelist()
        if name.startswith("prospectpro/contracts/")
    }
    source = ROOT / "plpython" / "prospectpro_pl" / "contracts"
    assert shipped == {p.name: p.read_bytes() for p in source.glob("*.*")}


def test_nothing_that_ships_says_seed(tmp_path):
    """The product speaks its own language: what users install (the receiver's wheel, its
    CLI help included; the extension's scripts, made from extension/ and migrations/; the
    PL/Python package and its JSON Schemas) never names the document it was built from."""
    wheel = _wheel(RECEIVER, tmp_path)
    shipped = {f"wheel:{name}": wheel.read(name) for name in wheel.namelist()}
    for pattern in ("extension/**/*", "migrations/*.sql", "plpython/prospectpro_pl/**/*"):
        for path in ROOT.glob(pattern):
            if path.is_file() and "__pycache__" not in path.parts:
                shipped[str(path.relative_to(ROOT))] = path.read_bytes()
    shipped["prospectpro.control"] = (ROOT / "prospectpro.control").read_bytes()
    assert any(name.endswith("cli.py") for name in shipped)
    assert len(shipped) > 40
    saying = sorted(name for name, text in shipped.items() if b"seed" in text.lower())
    assert saying == []


def test_the_server_and_the_receiver_pin_one_h11():
    """Both sides frame HTTP/1.1 with h11: the extension's vendored copy and the receiver's
    dependency are the same version, so a framing bug is fixed (or found) once."""
    server = re.findall(r"^h11==(\S+)", (ROOT / "plpython/requirements.txt").read_text(), re.M)
    project = tomllib.loads((RECEIVER / "pyproject.toml").read_text())["project"]
    receiver = [d for d in project["dependencies"] if re.match(r"h11\b", d)]
    assert len(server) == 1
    assert receiver == [f"h11=={server[0]}"]
