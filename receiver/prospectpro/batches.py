"""Database calls made in batches, the way a database groups commits.

Each webhook submits its item (a lead to read, an outcome to write back) and
waits for its result. While one call is in the database, the items of other
webhooks gather; the next call takes all of them. A lone webhook waits for no
one, and under load a query, the triggers it fires and the commit run once
per batch instead of once per webhook.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

LEADS_SQL = """
select l.id, l.campaign_id, l.business_name, l.website, l.phone, l.address, l.email,
       l.enrichment_stage, l.enrichment_data,
       exists (select from prospectpro.applied_deliveries as d where d.webhook_id = w.webhook_id)
           as seen
from unnest(%s::uuid[], %s::bigint[]) with ordinality as w (webhook_id, lead_id, n)
left join prospectpro.enhanced_leads as l on l.id = w.lead_id
order by w.n
"""
APPLY_SQL = "select prospectpro.apply_enrichment_batch(%s::jsonb)"
# The answer for an outcome whose lead is gone (enrichment.NO_LEAD).
NO_LEAD = "lead does not exist"


class Batcher:
    """Runs ``call(connection, items) -> results`` (one result per item, in order) on
    batches of the items submitted meanwhile, at most ``calls`` batches at once."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        call: Callable[[psycopg.AsyncConnection, list], Awaitable[list]],
        calls: int = 2,
        max_batch: int = 100,
    ) -> None:
        self.pool = pool
        self.call = call
        self.calls = calls
        self.max_batch = max_batch
        self._waiting: list[tuple[Any, asyncio.Future]] = []
        self._flushing = 0
        self._tasks: set[asyncio.Task] = set()  # held, so that none is collected mid-flush

    async def submit(self, item: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flushing < self.calls:
            self._flushing += 1
            task = asyncio.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _flush(self) -> None:
        # No await between the last look at the queue and the count going down:
        # an item submitted after it starts a flush of its own.
        try:
            while self._waiting:
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                try:
                    await self._run(batch)
                except BaseException as exc:  # a bug, or the receiver shutting down
                    for _, future in batch:
                        _settle(future, exception=exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            self._flushing -= 1

    async def _run(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        try:
            async with self.pool.connection() as conn:
                results = await self.call(conn, [item for item, _ in batch])
        except psycopg.Error as exc:
            if len(batch) == 1 or out_of_reach(exc):
                # Every item fails, and its webhook is delivered again later.
                for _, future in batch:
                    _settle(future, exception=exc)
                return
            # One item's error, or a deadlock between batches, must not fail the
            # others: each is run alone.
            for one in batch:
                await self._run([one])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def out_of_reach(exc: psycopg.Error) -> bool:
    """Whether the error is the connection's (it broke, or none came from the pool:
    no SQLSTATE, or class 08), not the batch's. Deadlocks, serialization failures
    and statement timeouts are OperationalErrors too, with SQLSTATEs of their own."""
    return isinstance(exc, psycopg.OperationalError) and (
        exc.sqlstate is None or exc.sqlstate.startswith("08")
    )


def _settle(
    future: asyncio.Future, result: Any = None, exception: BaseException | None = None
) -> None:
    if future.done():  # its webhook's client went away
        return
    if exception is None:
        future.set_result(result)
    else:
        future.set_exception(exception)


async def read_leads(
    conn: psycopg.AsyncConnection, items: list[tuple[str, int]]
) -> list[dict[str, Any] | None]:
    """(webhook_id, lead_id) -> the lead, with ``seen`` (the webhook-id was applied), or None."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(LEADS_SQL, ([w for w, _ in items], [lead for _, lead in items]))
    return [row if row["id"] is not None else None for row in await cur.fetchall()]


async def apply_outcomes(
    conn: psycopg.AsyncConnection, outcomes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Stage outcomes ({webhook_id, lead_id, stage, result, costs}) -> their answers."""
    cur = await conn.execute(APPLY_SQL, (json.dumps(outcomes),))
    (answers,) = await cur.fetchone()
    return answers
