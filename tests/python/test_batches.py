"""The receiver's database batches, against a real cluster: items submitted while a call
runs share the next one, every item gets its own result, one item's error stays its own."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from prospectpro.batches import Batcher, apply_outcomes, read_leads
from psycopg_pool import AsyncConnectionPool


def run_with_pool(dsn, body):
    async def go():
        async with AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False) as pool:
            return await body(pool)

    return asyncio.run(go())


def test_items_submitted_meanwhile_share_a_call_and_keep_their_order(dsn):
    batches: list[list[int]] = []

    async def square(conn, items):
        batches.append(items)
        await conn.execute("select pg_sleep(0.05)")
        return [n * n for n in items]

    async def body(pool):
        batcher = Batcher(pool, square, calls=1)
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0.02)  # its call is in the database now
        rest = await asyncio.gather(*(batcher.submit(n) for n in range(1, 20)))
        return [await first, *rest]

    assert run_with_pool(dsn, body) == [n * n for n in range(20)]
    assert batches == [[0], list(range(1, 20))]  # the first waited for no one


def test_an_error_of_one_item_is_its_own(dsn):
    calls: list[list[int]] = []

    async def refuse_thirteen(conn, items):
        calls.append(items)
        await conn.execute("select pg_sleep(0.02)")
        if 13 in items:
            raise psycopg.errors.DataError("thirteen")
        return items

    async def body(pool):
        batcher = Batcher(pool, refuse_thirteen, calls=1)
        return await asyncio.gather(*(batcher.submit(n) for n in range(20)), return_exceptions=True)

    results = run_with_pool(dsn, body)
    assert isinstance(results[13], psycopg.errors.DataError)
    assert [r for n, r in enumerate(results) if n != 13] == [n for n in range(20) if n != 13]
    assert [13] in calls  # it was tried alone before it failed


def test_a_deadlock_between_batches_is_resolved_item_by_item(dsn):
    # Deadlocks are OperationalErrors, like a lost connection, but they are the batch's.
    async def deadlock_when_together(conn, items):
        await conn.execute("select 1")
        if len(items) > 1:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return items

    async def body(pool):
        batcher = Batcher(pool, deadlock_when_together, calls=1)
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0.01)
        rest = await asyncio.gather(*(batcher.submit(n) for n in range(1, 6)))
        return [await first, *rest]

    assert run_with_pool(dsn, body) == list(range(6))


def test_an_item_submitted_as_the_last_flush_ends_is_flushed(dsn):
    async def echo(conn, items):
        await conn.execute("select 1")
        return items

    async def body(pool):
        batcher = Batcher(pool, echo, calls=1)
        # Its answer wakes this task before the flush that gave it has ended; the
        # next submit runs in this task (wait_for would start a task of its own, later).
        first = await batcher.submit(1)
        async with asyncio.timeout(5):
            return first, await batcher.submit(2)

    assert run_with_pool(dsn, body) == (1, 2)


def test_a_failure_that_is_no_database_error_reaches_its_items(dsn):
    async def broken(conn, items):
        await conn.execute("select 1")
        if 0 in items:
            return []  # one result short: a bug
        return items

    async def body(pool):
        batcher = Batcher(pool, broken, calls=1)
        failed = await asyncio.gather(
            asyncio.wait_for(batcher.submit(0), timeout=5), return_exceptions=True
        )
        return failed, await asyncio.wait_for(batcher.submit(7), timeout=5)

    (failed,), later = run_with_pool(dsn, body)
    assert isinstance(failed, ValueError)  # zip(strict=True) found the bug
    assert later == 7


def test_a_database_out_of_reach_fails_the_batch_at_once(dsn):
    calls: list[list[int]] = []

    async def unreachable(conn, items):
        calls.append(items)
        await conn.execute("select pg_sleep(0.02)")
        raise psycopg.OperationalError("server closed the connection")

    async def body(pool):
        batcher = Batcher(pool, unreachable, calls=1)
        return await asyncio.gather(*(batcher.submit(n) for n in range(10)), return_exceptions=True)

    results = run_with_pool(dsn, body)
    assert all(isinstance(r, psycopg.OperationalError) for r in results)
    assert all(len(c) > 1 for c in calls[1:])  # no item was retried alone


def test_leads_are_read_and_outcomes_applied_in_batches(db, dsn):
    db.execute("insert into prospectpro.campaigns (id, name) values (1, 'Batches')")
    db.execute(
        "insert into prospectpro.enhanced_leads (id, campaign_id, business_name)"
        " select n, 1, 'Lead ' || n from generate_series(1, 3) as n"
    )
    ids = [f"c0000000-0000-0000-0000-00000000000{n}" for n in range(1, 5)]

    async def body(pool):
        reads = Batcher(pool, read_leads)
        writes = Batcher(pool, apply_outcomes)
        leads = await asyncio.gather(*(reads.submit((w, n)) for n, w in enumerate(ids, 1)))
        answers = await asyncio.gather(
            *(
                writes.submit({"webhook_id": w, "lead_id": n, "stage": "stage1"})
                for n, w in enumerate(ids, 1)
            )
        )
        seen = await reads.submit((ids[0], 1))
        return leads, answers, seen

    leads, answers, seen = run_with_pool(dsn, body)
    assert [lead and lead["business_name"] for lead in leads] == [
        "Lead 1",
        "Lead 2",
        "Lead 3",
        None,
    ]
    assert not any(lead["seen"] for lead in leads[:3])
    assert [a["applied"] for a in answers] == [True, True, True, False]
    assert answers[3]["reason"] == "lead does not exist"
    assert seen["seen"] and seen["enrichment_stage"] == "stage2"


@pytest.mark.parametrize("calls", [1, 3])
def test_no_more_calls_run_at_once_than_allowed(dsn, calls):
    running, peak = 0, 0

    async def track(conn, items):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await conn.execute("select pg_sleep(0.03)")
        running -= 1
        return items

    async def body(pool):
        batcher = Batcher(pool, track, calls=calls)

        async def later(n):
            await asyncio.sleep(n * 0.005)
            return await batcher.submit(n)

        return await asyncio.gather(*(later(n) for n in range(30)))

    assert run_with_pool(dsn, body) == list(range(30))
    assert peak == calls
