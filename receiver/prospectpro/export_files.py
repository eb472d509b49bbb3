"""Campaign exports on disk, written atomically: a reader sees the old file or
the whole new one, never half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def path(export_dir: Path, campaign_id: int) -> Path:
    return export_dir / f"campaign-{int(campaign_id)}.csv"


def write(export_dir: Path, campaign_id: int, csv_text: str) -> Path:
    """Write to a temporary file in the same directory, fsync, then rename over."""
    export_dir.mkdir(parents=True, exist_ok=True)
    target = path(export_dir, campaign_id)
    fd, temporary = tempfile.mkstemp(dir=export_dir, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(csv_text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
