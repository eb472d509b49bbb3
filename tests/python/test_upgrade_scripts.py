"""The Makefile's upgrade scripts are direct: for each released version, the
migrations from it to the current version in order, then extension/api/ once.

Run on a copy of the build inputs with a fake release 1.3 added (so the repo
itself never holds an invented release): the copy's control file says 1.3 and
migrations/ gains a 1.2--1.3 step."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ("Makefile", "prospectpro.control", "extension", "migrations")
# assemble() heads each part it copies in with "-- <its path>".
PART = re.compile(r"^-- ((?:migrations|extension/api)/\S+\.sql)$", re.M)


def current_version() -> str:
    control = (ROOT / "prospectpro.control").read_text()
    return re.search(r"^default_version = '(.*)'", control, re.M)[1]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in INPUTS:
        source = ROOT / name
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, tmp_path / name)
    return tmp_path


def release(tree: Path, old: str, new: str) -> None:
    (tree / f"migrations/prospectpro--{old}--{new}.sql").write_text(f"-- schema of {new}\n")
    control = tree / "prospectpro.control"
    control.write_text(
        re.sub(r"default_version = '.*'", f"default_version = '{new}'", control.read_text())
    )


def make(tree: Path, *targets: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-C", tree, *targets], capture_output=True, text=True)


def parts(script: Path) -> list[str]:
    return PART.findall(script.read_text())


def test_every_released_version_gets_a_direct_script_in_migration_order(tree):
    assert current_version() == "1.2", "update this test's fake release"
    release(tree, "1.2", "1.3")
    done = make(tree)
    assert done.returncode == 0, done.stderr
    built = sorted(p.name for p in tree.glob("prospectpro--*.sql"))
    assert built == [
        "prospectpro--1.0--1.3.sql",
        "prospectpro--1.1--1.3.sql",
        "prospectpro--1.2--1.3.sql",
        "prospectpro--1.3.sql",
    ]

    api = [f"extension/api/{p.name}" for p in sorted((ROOT / "extension/api").glob("*.sql"))]
    assert parts(tree / "prospectpro--1.0--1.3.sql") == [
        "migrations/prospectpro--1.0--1.1.sql",
        "migrations/prospectpro--1.1--1.2.sql",
        "migrations/prospectpro--1.2--1.3.sql",
        *api,
    ]
    assert parts(tree / "prospectpro--1.2--1.3.sql") == [
        "migrations/prospectpro--1.2--1.3.sql",
        *api,
    ]
    # The fresh install has the schema parts and no migration.
    fresh = parts(tree / "prospectpro--1.3.sql")
    assert fresh == api


def test_a_gap_in_the_migrations_stops_the_build(tree):
    release(tree, "1.2", "1.3")
    release(tree, "1.3", "1.4")
    (tree / "migrations/prospectpro--1.2--1.3.sql").unlink()
    done = make(tree)
    assert done.returncode != 0
    assert "needs exactly one prospectpro--1.2--*.sql on the way to 1.4" in done.stderr
