"""Prepared statements: each is planned once per session, then reused.

Queries on a trigger's transition tables cannot be kept (those tables exist
for one statement only); they go through plpy.execute directly.
"""

from __future__ import annotations

from collections.abc import Sequence

_prepared: dict[str, object] = {}


def run(plpy, sql: str, types: Sequence[str] = (), args: Sequence = ()):
    """Execute ``sql`` with ``args`` (of PostgreSQL ``types``) through its kept plan."""
    plan = _prepared.get(sql)
    if plan is None:
        plan = _prepared[sql] = plpy.prepare(sql, list(types))
    return plpy.execute(plan, list(args))
