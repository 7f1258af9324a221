"""The PBX's repositories on both store backends: voicemail messages and ACD queue memory."""

from __future__ import annotations

from typing import Any

from pbx.acd import plan
from pbx.repo.queues import QueueRepo
from pbx.repo.voicemail import NewMessage, VoicemailRepo
from webfon.store import Store


async def test_voicemail_messages_stored_cut_to_size_and_counted(store: Store, org: Any) -> None:
    repo = VoicemailRepo(store)
    uid = org.users["1002"]
    first = await repo.add(NewMessage(uid, "1001" * 30, "Ana " * 50, "c" * 300, 100.0, 2.34567,
                                      "/var/vm/1.wav"))
    await repo.add(NewMessage(uid, "1003", "", "call-2", 101.0, 1.0, "/var/vm/2.wav"))
    row = await store.fetchone("SELECT * FROM voicemail_messages WHERE id = ?", (first,))
    assert row is not None
    assert (len(row["caller"]), len(row["caller_name"]), len(row["call_id"])) == (64, 128, 255)
    assert row["duration_s"] == 2.346 and row["heard"] == 0
    assert (await repo.unread(uid), await repo.heard(uid)) == (2, 0)
    await store.execute("UPDATE voicemail_messages SET heard = 1 WHERE id = ?", (first,))
    assert (await repo.unread(uid), await repo.heard(uid)) == (1, 1)
    assert (await repo.unread(org.users["1001"]), await repo.heard(org.users["1001"])) == (0, 0)


async def test_queue_memory_drives_round_robin_and_least_recent(store: Store, org: Any) -> None:
    repo = QueueRepo(store)
    qid = org.queues["3000"]
    for ext in ("2002", "2050"):
        await store.execute("INSERT INTO queue_members (queue_id, extension_id, penalty) "
                            "VALUES (?, ?, 2)", (qid, org.exts[ext]))
    members = await repo.members(qid)
    assert sorted(m.number for m in members) == ["2001", "2002", "2050"]
    assert {m.calls_taken for m in members} == {0} and await repo.last_round_robin(qid) is None
    await repo.remember_answer(qid, org.exts["2002"], 50.0)
    await repo.remember_answer(qid, org.exts["2002"], 60.0)
    await repo.remember_answer(qid, org.exts["2001"], 70.0)
    by_number = {m.number: m for m in await repo.members(qid)}
    assert (by_number["2002"].calls_taken, by_number["2002"].last_call_at) == (2, 60.0)
    assert (by_number["2001"].calls_taken, by_number["2050"].calls_taken) == (1, 0)
    assert await repo.last_round_robin(qid) == org.exts["2001"]
    rr = plan("roundrobin", list(by_number.values()), last_rr=await repo.last_round_robin(qid))
    assert [r[0].number for r in rr] == ["2002", "2050", "2001"]
    least = plan("leastrecent", list(by_number.values()))
    assert [r[0].number for r in least] == ["2050", "2002", "2001"]
