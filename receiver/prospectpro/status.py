"""`prospectpro status`: the campaign dashboard view as a terminal table."""

from __future__ import annotations

import psycopg

COLUMNS = [
    ("campaign_id", "id"),
    ("name", "name"),
    ("status", "status"),
    ("total_leads", "leads"),
    ("qualified_leads", "qualified"),
    ("processing_cost", "cost"),
    ("budget_left", "budget left"),
    ("completion_percentage", "done %"),
    ("last_event", "last event"),
    ("time_since_last_event", "since"),
    ("webhook_backlog", "backlog"),
]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if hasattr(value, "total_seconds"):
        return f"{value.total_seconds():.0f} s"
    return str(value)


def table(rows: list[tuple]) -> str:
    cells = [[title for _, title in COLUMNS], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"select {', '.join(c for c, _ in COLUMNS)}"
            " from prospectpro.campaign_lifecycle_dashboard order by campaign_id"
        ).fetchall()
    print(table(rows) if rows else "no campaigns")
    return 0
