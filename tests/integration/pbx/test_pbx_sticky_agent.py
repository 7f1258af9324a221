"""Sticky agent with real calls: a customer calling a queue again from outside (through a
trunk) is offered to the agent who last spoke with them before the queue's strategy, while
that agent is free; busy, the queue's strategy decides. A hunt group ringing all its members
at once remembers which of them answered, too."""

from __future__ import annotations

from tests.integration.pbx.pbxrun import RunningPbx
from tests.support.net import wait_until
from tests.support.phone import Phone
from webfon.directory import create_queue

CUSTOMER, AGENT = 700.0, 1200.0


async def customer_calls(pbx: RunningPbx, customer: Phone, agent: Phone,
                         number: str = "3000") -> None:
    """The customer calls queue ``number``; ``agent`` must be the phone that rings, and
    answers; audio is checked both ways, then the customer hangs up."""
    call = customer.dial(number, pbx.host, pbx.port)
    agent.answer(await agent.incoming(5))
    assert (await call.wait_answer(5)).status == 200
    customer.point_media(call.remote_sdp)
    customer.send_tone(CUSTOMER)
    agent.send_tone(AGENT)
    await customer.wait_hearing(AGENT, timeout=5)
    await agent.wait_hearing(CUSTOMER, timeout=5)
    customer.stop_tone()
    agent.stop_tone()
    await call.bye()
    await wait_until(lambda: not pbx.engine.calls, timeout=5)


async def test_returning_customer_gets_the_agent_they_spoke_with(pbx: RunningPbx) -> None:
    customer = await Phone.open("600111222", pbx.host)
    pbx.phones.append(customer)
    host, port = customer.ua.endpoint.address("udp")
    await pbx.store.execute("INSERT INTO trunks (name, host, port) VALUES ('carrier', ?, ?)",
                            (host, port))
    await pbx.store.execute("UPDATE queues SET sticky_window_s = 600")  # 3000: 2002 then 2003
    pbx.core.directory.invalidate()
    second = await pbx.registered("2003")
    await customer_calls(pbx, customer, second)  # 2002 not there yet: 2003 takes it
    first = await pbx.registered("2002")
    # the linear strategy rings 2002 first, but the customer spoke with 2003
    await customer_calls(pbx, customer, second)
    assert first.ua.incoming.empty()
    # 2003 busy with another call: the queue's strategy, 2002
    inside = await pbx.registered("2001")
    busy_call = inside.dial("2003", pbx.host, pbx.port)
    second.answer(await second.incoming(5))
    assert (await busy_call.wait_answer(5)).status == 200
    call = customer.dial("3000", pbx.host, pbx.port)
    first.answer(await first.incoming(5))
    assert (await call.wait_answer(5)).status == 200
    await call.bye()
    await busy_call.bye()


async def test_ringall_group_remembers_which_member_answered(pbx: RunningPbx) -> None:
    async with pbx.store.transaction() as tx:
        qid = await create_queue(tx, number="3100", name="Salto", kind="hunt",
                                 strategy="ringall", ring_timeout_s=5, timeout_s=10,
                                 sticky_window_s=600)
        for ext in ("2002", "2003"):
            await tx.execute("INSERT INTO queue_members (queue_id, extension_id) VALUES (?, ?)",
                             (qid, pbx.ids[f"ext{ext}"]))
    customer = await pbx.registered("2001")
    b, c = await pbx.registered("2002"), await pbx.registered("2003")
    call = customer.dial("3100", pbx.host, pbx.port)
    await b.incoming(5)  # both ring together; 2003 answers
    c.answer(await c.incoming(5))
    assert (await call.wait_answer(5)).status == 200
    await call.bye()
    await wait_until(lambda: not pbx.engine.calls, timeout=5)
    # the next time 2003 rings first, alone
    await customer_calls(pbx, customer, c, "3100")
    assert b.ua.incoming.empty()
