"""Registration, frame for frame against Janus: guest, digest-authenticated, refused."""

from __future__ import annotations

from tests.integration.conformance.runner import Run


async def test_guest_register(conform) -> None:
    async def scenario(run: Run) -> None:
        session = await run.session("alice")
        line = await run.line(session, "alice")
        await line.ask({"request": "register", "type": "guest",
                        "username": "sip:alice@127.0.0.1", "display_name": "Alice"},
                       "registered")
        # a guest sent no REGISTER: there is nothing to unregister (error 447)
        await line.ask_error({"request": "unregister"})

    await conform(scenario)


async def test_authenticated_register_and_unregister(conform) -> None:
    async def scenario(run: Run) -> None:
        registrar = await run.registrar("alice", "secret")
        session = await run.session("alice")
        line = await run.line(session, "alice")
        pending = await line.request({
            "request": "register", "username": f"sip:alice@{registrar.domain}",
            "secret": "secret", "proxy": registrar.uri})
        await pending.reply()
        await pending.event("registering")
        await pending.done()
        await line.unsolicited_event("registered")
        await registrar.contact()
        pending = await line.request({"request": "unregister"})
        await pending.reply()
        await pending.event("unregistering")
        await pending.done()
        await line.unsolicited_event("unregistered")

    await conform(scenario)


async def test_register_with_a_wrong_password_fails(conform) -> None:
    async def scenario(run: Run) -> None:
        registrar = await run.registrar("alice", "secret")
        session = await run.session("alice")
        line = await run.line(session, "alice")
        pending = await line.request({
            "request": "register", "username": f"sip:alice@{registrar.domain}",
            "secret": "wrong", "proxy": registrar.uri})
        await pending.reply()
        await pending.event("registering")
        await pending.done()
        await line.unsolicited_event("registration_failed")
        await run.finished(registrar.sipp)

    await conform(scenario)
