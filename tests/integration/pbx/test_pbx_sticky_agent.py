"""Sticky agent with real calls: a customer calling a queue again from outside (through a
trunk) is offered to the agent who last spoke with them before the queue's strategy, while
that agent is free; busy, the queue's strategy decides."""

from __future__ import annotations

from tests.integration.pbx.pbxrun import RunningPbx
from tests.support.net import wait_until
from tests.support.phone import Phone

CUSTOMER, AGENT = 700.0, 1200.0


async def customer_calls(pbx: RunningPbx, customer: Phone, agent: Phone) -> None:
    """The customer calls queue 3000; ``agent`` must be the phone that rings, and answers;
    audio is checked both ways, then the customer hangs up."""
    call = customer.dial("3000", pbx.host, pbx.port)
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
