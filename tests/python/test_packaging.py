"""What `pip install ./receiver` installs: the service, none of the tooling."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

RECEIVER = Path(__file__).resolve().parents[2] / "receiver"
SERVICE = {"app", "auth", "batches", "cli", "metrics", "pipeline", "schemas", "worker"}
TOOLING = {"bench", "faults", "standins", "cluster", "sink", "processes", "demo", "prospectpro_dev"}


def _wheel_modules(source: Path, tmp_path: Path) -> set[str]:
    """Module and package names (path parts, without .py) in a wheel built from source."""
    copy = tmp_path / "src"  # build from a copy: no build/ or egg-info in the tree
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(copy)],
        check=True,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    return {part.removesuffix(".py") for name in names for part in Path(name).parts}


def test_the_receiver_wheel_holds_the_service_and_no_tooling(tmp_path):
    modules = _wheel_modules(RECEIVER, tmp_path)
    assert modules >= SERVICE
    assert not modules & TOOLING


def test_the_tooling_is_a_distribution_of_its_own(tmp_path):
    modules = _wheel_modules(RECEIVER / "dev", tmp_path)
    assert modules >= TOOLING
    assert not modules & SERVICE - {"cli"}
