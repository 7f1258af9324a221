"""Cost of the routing rules on the call path: ``Router.route`` for a dialled number with 0,
50 and 200 rules in front of the fixed classes (none of them matching, the worst case: every
rule is tried), and the pure matching of ``webfon.routing_rules.decide``.

The store is a temporary SQLite file with a small organisation; the directory cache is on (as
in production), so the figures are the CPU cost of trying the rules, not of loading them.
Prints routes/s and µs/route per rule count, best of ``--repeat`` runs (CPU time).

    .venv/bin/python benchmarks/routing_rules_bench.py
    .venv/bin/python benchmarks/routing_rules_bench.py --rules 0 20 500 --seconds 1
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from pbx.directory import Directory
from pbx.routing import Router
from webfon.directory import add_phone, create_extension, create_user
from webfon.routing_rules import compile_rule, decide
from webfon.store import open_store


async def bench(n_rules: int, seconds: float, repeat: int, folder: Path) -> tuple[float, float]:
    store = await open_store(f"sqlite:///{folder / f'bench{n_rules}.db'}")
    async with store.transaction() as tx:
        cat = await tx.insert("INSERT INTO categories (name, allowed) VALUES ('n', "
                              "'internal,emergency,national,mobile')")
        uid = await create_user(tx, display_name="A", login_number="1001", password="pw",
                                category_id=cat)
        eid = await create_extension(tx, number="2001", kind="hard", owner_user_id=uid)
        await add_phone(tx, extension_id=eid, position=0, sip_username="2001",
                        sip_password="x")
        await tx.execute("INSERT INTO trunks (name, host) VALUES ('gw', '127.0.0.1')")
        for i in range(n_rules):
            await tx.execute(
                "INSERT INTO routing_rules (name, position, number_pattern, caller_pattern, "
                "days, time_from, time_to, action, target) VALUES (?, ?, ?, ?, 'mon-fri', "
                "'08:00', '20:00', 'queue', '3000')",
                (f"r{i}", i, rf"9{i:03d}(\d{{4}})", r"6\d{8}"))
    d = Directory(store, phone_ttl=60)
    router = Router(d, outside_prefix="0", local_prefixes=("91",))
    phone = await d.phone_by_username("2001")
    assert phone is not None
    caller = await router.caller_for_phone(phone)
    await router.route("0612345678", caller)  # warm the caches
    best = 0.0
    for _ in range(repeat):
        count, start = 0, time.process_time()
        while time.process_time() - start < seconds:
            for _ in range(100):
                await router.route("0612345678", caller)
            count += 100
        best = max(best, count / (time.process_time() - start))
    rules = [compile_rule({"name": f"r{i}", "number_pattern": rf"9{i:03d}(\d{{4}})",
                           "caller_pattern": r"6\d{8}", "action": "queue", "target": "3000"})
             for i in range(n_rules)]
    now = time.time()
    best_match = 0.0
    for _ in range(repeat):
        count, start = 0, time.process_time()
        while time.process_time() - start < seconds:
            for _ in range(100):
                decide(rules, "0612345678", caller="600111222", from_trunk=False, at=now)
            count += 100
        best_match = max(best_match, count / (time.process_time() - start))
    await store.close()
    return best, best_match


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rules", type=int, nargs="+", default=[0, 50, 200])
    p.add_argument("--seconds", type=float, default=0.5)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'rules':>6} {'route/s':>10} {'µs/route':>9} {'decide/s':>10} {'µs/decide':>10}")
        for n in args.rules:
            route, match = asyncio.run(bench(n, args.seconds, args.repeat, Path(tmp)))
            print(f"{n:>6} {route:>10.0f} {1e6 / route:>9.1f} {match:>10.0f} "
                  f"{1e6 / match:>10.1f}")


if __name__ == "__main__":
    main()
