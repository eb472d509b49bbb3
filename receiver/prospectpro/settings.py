"""The receiver's configuration, from environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    database_url: str
    # Where /metrics reads the monitoring views: a hot standby spares the
    # primary the dashboards' queries. None: database_url.
    metrics_database_url: str | None = None
    token: str | None = None
    signing_secret: str | None = None
    max_body_bytes: int = 64 * 1024
    stage_deadline: float = 8.0  # below the 10 s delivery timeout
    export_dir: Path = Path("exports")
    alert_notify_url: str | None = None
    metrics_cache_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("DATABASE_URL", ""),
            metrics_database_url=env.get("METRICS_DATABASE_URL") or None,
            # WEBHOOK_AUTH_TOKEN, falling back to PERSONAL_ACCESS_TOKEN.
            token=env.get("WEBHOOK_AUTH_TOKEN") or env.get("PERSONAL_ACCESS_TOKEN") or None,
            signing_secret=env.get("WEBHOOK_SIGNING_SECRET") or None,
            max_body_bytes=int(env.get("WEBHOOK_MAX_BODY_BYTES", 64 * 1024)),
            stage_deadline=float(env.get("STAGE_DEADLINE_SECONDS", 8.0)),
            export_dir=Path(env.get("EXPORT_DIR", "exports")),
            alert_notify_url=env.get("ALERT_NOTIFY_URL") or None,
            metrics_cache_seconds=float(env.get("METRICS_CACHE_SECONDS", 5.0)),
        )
