"""Property-based fuzzing: parsers only ever raise ParseError; the endpoint survives."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webfon.sip import Address, ParseError, SessionDescription, SipURI, Via, parse_message
from webfon.sip.digest import Credentials
from webfon.sip.transport import StreamFramer

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

VALID = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "A" <sip:alice@example.com>;tag=1\r\n'
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: abc@10.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:alice@10.0.0.1>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 10\r\n\r\n"
    b"v=0\r\no=- 1"
)

TOKENS = [b"\r\n", b":", b";", b",", b"<", b">", b'"', b"@", b"=", b" ", b"sip:", b"SIP/2.0",
          b"Via", b"Content-Length", b"\xff", b"\x00", b"[", b"]", b"%", b"?", b"\t", b"1"]


def _check_parse(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except ParseError:
        return
    # a parsed message must re-encode and its typed accessors fail only with ParseError
    for accessor in ("call_id", "cseq", "from_", "to", "vias", "contacts", "routes",
                     "record_routes", "max_forwards", "expires", "content_length"):
        try:
            getattr(msg, accessor)
        except ParseError:
            pass
    try:
        msg.validate()
    except ParseError:
        return
    parse_message(msg.encode())


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    _check_parse(data)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID)), st.sampled_from(TOKENS),
                          st.integers(0, 3)), max_size=8))
def test_mutated_valid_message(mutations: list[tuple[int, bytes, int]]) -> None:
    data = bytearray(VALID)
    for pos, token, delete in mutations:
        pos = min(pos, len(data))
        data[pos:pos + delete] = token
    _check_parse(bytes(data))


@FUZZ
@given(st.text(max_size=200))
def test_header_value_parsers(text: str) -> None:
    for parser in (SipURI.parse, Address.parse, Via.parse, Credentials.parse,
                   SessionDescription.parse):
        try:
            parser(text)
        except ParseError:
            pass


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=6))
def test_stream_framer(chunks: list[bytes]) -> None:
    framer = StreamFramer(max_message_size=4096)
    try:
        for chunk in [VALID, *chunks]:
            for message in framer.feed(chunk):
                try:
                    parse_message(message, stream=True)
                except ParseError:
                    pass
    except ParseError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(st.binary(max_size=600),
                          st.builds(lambda p, t: VALID[:p] + t + VALID[p:],
                                    st.integers(0, len(VALID)), st.sampled_from(TOKENS))),
                min_size=1, max_size=10))
def test_endpoint_survives_fuzzed_datagrams(datagrams: list[bytes]) -> None:
    """Garbage into a live endpoint: no exception escapes, every datagram is accounted for,
    and the endpoint still answers a valid request afterwards."""
    from webfon.sip import SipEndpoint, Timers

    async def run() -> None:
        ep = SipEndpoint(timers=Timers(t1=0.01, t2=0.04, t4=0.05))
        ep.handler = lambda req, tx: tx.respond(200) if tx else None
        await ep.start()
        try:
            for data in datagrams:
                ep._receive(data, ("127.0.0.1", 9), ep.transports["udp"], None)
            assert ep.stats["internal_errors"] == 0
            assert ep.stats["handler_errors"] == 0
            assert ep.stats["received"] == len(datagrams)
            loop = asyncio.get_running_loop()
            got: asyncio.Future[bytes] = loop.create_future()

            class Peer(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: object) -> None:
                    if not got.done() and data.startswith(b"SIP/2.0 200"):
                        got.set_result(data)

            transport, _ = await loop.create_datagram_endpoint(Peer,
                                                               local_addr=("127.0.0.1", 0))
            try:
                port = transport.get_extra_info("sockname")[1]
                ok = VALID.replace(b"INVITE", b"OPTIONS").replace(b"10.0.0.1:5060",
                                                                   f"127.0.0.1:{port}".encode())
                transport.sendto(ok, ("127.0.0.1", ep.port))
                await asyncio.wait_for(got, 5)
            finally:
                transport.close()
        finally:
            await ep.close()

    asyncio.run(run())
