"""The routing rules as the PBX uses them: the enabled rows of ``routing_rules`` in order,
compiled (:mod:`webfon.routing_rules`). A row that no longer compiles (changed behind the
admin API's back) is left out and logged, never a reason to fail a call."""

from __future__ import annotations

import logging

from webfon.routing_rules import Rule, RuleError, compile_rule
from webfon.store import Store

log = logging.getLogger("pbx.rules")


async def load_rules(store: Store) -> list[Rule]:
    rows = await store.fetchall(
        "SELECT * FROM routing_rules WHERE enabled = 1 ORDER BY position, id")
    rules: list[Rule] = []
    for row in rows:
        try:
            rules.append(compile_rule(row))
        except RuleError as exc:
            log.warning("routing rule left out", extra={"rule_id": row["id"],
                                                        "rule": row["name"],
                                                        "reason": str(exc)})
    return rules
