"""A writer killed with SIGKILL mid-stream loses no committed CDR and leaves a usable store."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap

from webfon.store import open_store

WRITER = textwrap.dedent("""
    import asyncio, sys, time
    from webfon.store import open_store

    async def main(url):
        store = await open_store(url)
        n = 0
        while True:
            now = time.time()
            async with store.transaction() as tx:
                await tx.execute(
                    "INSERT INTO cdr (call_id, caller, callee, direction, started_at, ended_at, "
                    "disposition) VALUES (?, '1001', '1002', 'internal', ?, ?, 'answered')",
                    (f"kill-{n}", now, now))
            n += 1
            print(n, flush=True)

    asyncio.run(main(sys.argv[1]))
""")


async def test_sigkill_while_writing_cdrs_loses_no_committed_row(store_url: str) -> None:
    first = await open_store(store_url)  # migrate before the writer starts
    await first.close()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, store_url, stdout=asyncio.subprocess.PIPE,
        env={**os.environ})
    assert proc.stdout is not None
    committed = 0
    try:
        async with asyncio.timeout(60):
            while committed < 300:
                line = await proc.stdout.readline()
                assert line, "writer exited early"
                committed = int(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        rest = await proc.stdout.read()
        await proc.wait()
    lines = rest.decode().split()
    if lines:
        committed = int(lines[-1])
    store = await open_store(store_url)
    try:
        rows = await store.fetchval("SELECT COUNT(*) AS n FROM cdr")
        assert rows >= committed
        assert rows <= committed + 1  # at most the one in flight when killed
        # the store still takes writes
        await store.execute(
            "INSERT INTO cdr (call_id, caller, callee, direction, started_at, ended_at, "
            "disposition) VALUES ('after', 'a', 'b', 'internal', 1, 1, 'failed')")
        assert await store.fetchval("SELECT COUNT(*) AS n FROM cdr") == rows + 1
    finally:
        await store.close()
