"""A gateway node's lease: taken at start, refreshed with its load, given back at stop; a node
declared lost while alive ends its sessions and takes a new lease; a second process with the
same node id does not overwrite the first one's row."""

from __future__ import annotations

from gateway.lease import NodeIdentity, NodeLease, NodeLoad, NodeState
from webfon.store import Store

IDENTITY = NodeIdentity(node_id=4, name="gateway-4", api_url="http://10.0.0.5:8188",
                        sip_address="10.0.0.5:5062")


async def _row(store: Store) -> dict:
    row = await store.fetchone("SELECT * FROM gateway_nodes WHERE node_id = 4")
    assert row is not None
    return row


async def test_lease_taken_refreshed_and_given_back(store: Store) -> None:
    load = NodeLoad(sessions=3, registered=2, calls=1, media_workers=2, media_workers_alive=2,
                    media_legs=2)
    lease = NodeLease(store, IDENTITY, heartbeat_s=60, load=lambda: load)
    await lease.start()
    row = await _row(store)
    assert row["state"] == "up" and row["incarnation"] == lease.incarnation
    assert (row["sessions"], row["calls"], row["media_workers_alive"]) == (3, 1, 2)
    first_beat = row["heartbeat_at"]
    load = NodeLoad(sessions=1)
    await lease.beat()
    row = await _row(store)
    assert row["heartbeat_at"] >= first_beat and row["sessions"] == 1 and row["calls"] == 0
    await lease.set_state(NodeState.DRAINING)
    await lease.beat()
    assert (await _row(store))["state"] == "draining"
    await lease.stop()
    row = await _row(store)
    assert row["state"] == "stopped" and row["ended_at"] is not None


async def test_declared_lost_while_alive_ends_sessions_and_takes_a_new_lease(
        store: Store) -> None:
    ended: list[str] = []

    async def lost() -> None:
        ended.append("sessions ended")

    lease = NodeLease(store, IDENTITY, heartbeat_s=60, load=NodeLoad, on_lost=lost)
    await lease.start()
    old = lease.incarnation
    await store.execute("UPDATE gateway_nodes SET state = 'lost' WHERE node_id = 4")
    await lease.beat()
    assert ended == ["sessions ended"]
    row = await _row(store)
    assert row["state"] == "up" and row["incarnation"] == lease.incarnation != old
    await lease.stop()


async def test_another_process_with_the_same_node_id_is_not_overwritten(store: Store) -> None:
    first = NodeLease(store, IDENTITY, heartbeat_s=60, load=NodeLoad)
    await first.start()
    second = NodeLease(store, IDENTITY, heartbeat_s=60, load=NodeLoad)
    await second.start()  # the newer process takes the row
    await first.beat()
    assert (await _row(store))["incarnation"] == second.incarnation
    await second.stop()
    await first.stop()
    assert (await _row(store))["incarnation"] == second.incarnation
