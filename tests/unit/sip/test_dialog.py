"""Dialog creation, route sets, in-dialog requests and CSeq handling."""

from __future__ import annotations

import pytest

from webfon.sip import Address, Dialog, DialogError, DialogStore, Request, SipURI, dialog_id_of
from webfon.sip.message import parse_message


def _invite() -> Request:
    msg = parse_message(
        b"INVITE sip:bob@b.example SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\n"
        b"From: Alice <sip:alice@a.example>;tag=atag\r\n"
        b"To: Bob <sip:bob@b.example>\r\n"
        b"Call-ID: dlg-1\r\nCSeq: 10 INVITE\r\n"
        b"Contact: <sip:alice@10.0.0.1:5062>\r\n"
        b"Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\r\n"
        b"Content-Length: 0\r\n\r\n")
    assert isinstance(msg, Request)
    return msg


def test_uac_dialog_from_2xx_and_in_dialog_requests() -> None:
    invite = _invite()
    ok = invite.create_response(200, to_tag="btag",
                                headers=[("Contact", "<sip:bob@10.0.0.2:5064>")])
    dialog = Dialog.from_uac(invite, ok, Address(SipURI.parse("sip:alice@10.0.0.1:5062")))
    assert dialog.id == ("dlg-1", "atag", "btag")
    assert dialog.state == "confirmed" and dialog.role == "uac"
    # UAC route set is the Record-Route in reverse
    assert [str(r.uri) for r in dialog.route_set] == ["sip:p2.example;lr", "sip:p1.example;lr"]
    assert str(dialog.remote_target) == "sip:bob@10.0.0.2:5064"
    bye = dialog.create_request("BYE")
    assert str(bye.uri) == "sip:bob@10.0.0.2:5064"
    assert bye.headers.values("Route") == ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
    assert bye.cseq.seq == 11 and bye.from_tag == "atag" and bye.to_tag == "btag"
    assert "Contact" not in bye.headers
    reinvite = dialog.create_request("INVITE", body=b"v=0", content_type="application/sdp")
    assert reinvite.cseq.seq == 12 and reinvite.contact is not None
    ack = dialog.create_ack()
    assert ack.cseq.seq == 12 and ack.cseq.method == "ACK"
    assert dialog_id_of(ok, incoming=False) == dialog.id
    with pytest.raises(DialogError):
        dialog.create_request("ACK")


def test_uac_early_dialog_then_confirmed_and_target_refresh() -> None:
    invite = _invite()
    ringing = invite.create_response(180, to_tag="btag",
                                     headers=[("Contact", "<sip:bob@10.0.0.2>")])
    dialog = Dialog.from_uac(invite, ringing)
    assert dialog.state == "early"
    ok = invite.create_response(200, to_tag="btag", headers=[("Contact", "<sip:bob@10.0.0.9>")])
    dialog.receive_response(ok)
    assert dialog.state == "confirmed" and str(dialog.remote_target) == "sip:bob@10.0.0.9"
    with pytest.raises(DialogError):
        Dialog.from_uac(invite, invite.create_response(100))
    with pytest.raises(DialogError):
        Dialog.from_uac(invite, invite.create_response(486, to_tag="x"))


def test_uas_dialog_and_remote_cseq_order() -> None:
    invite = _invite()
    dialog = Dialog.from_uas(invite, "btag", SipURI.parse("sip:bob@10.0.0.2"))
    assert dialog.id == ("dlg-1", "btag", "atag")
    assert [str(r.uri) for r in dialog.route_set] == ["sip:p1.example;lr", "sip:p2.example;lr"]
    assert dialog.remote_seq == 10
    bye = dialog.create_request("BYE")
    assert bye.from_tag == "btag" and bye.to_tag == "atag"
    assert str(bye.uri) == "sip:alice@10.0.0.1:5062"
    assert bye.from_.display_name == "Bob"
    incoming = bye.copy()  # shape of an in-dialog request from alice
    incoming.headers.set("From", "<sip:alice@a.example>;tag=atag")
    incoming.headers.set("To", "<sip:bob@b.example>;tag=btag")
    incoming.headers.set("CSeq", "11 INFO")
    incoming.method = "INFO"
    assert dialog.receive_request(incoming)
    assert not dialog.receive_request(incoming)  # same CSeq again: out of order → 500
    store = DialogStore()
    store.add(dialog)
    assert store.find(incoming) is dialog
    store.remove(dialog)
    assert store.find(incoming) is None


def test_strict_routing() -> None:
    invite = _invite()
    invite.headers.set("Record-Route", "<sip:strict.example>")
    ok = invite.create_response(200, to_tag="btag", headers=[("Contact", "<sip:bob@10.0.0.2>")])
    dialog = Dialog.from_uac(invite, ok)
    bye = dialog.create_request("BYE")
    assert str(bye.uri) == "sip:strict.example"
    assert bye.headers.values("Route") == ["<sip:bob@10.0.0.2>"]


def test_terminated_dialog_refuses_requests() -> None:
    invite = _invite()
    dialog = Dialog.from_uas(invite, "btag")
    info = dialog.create_request("INFO")
    dialog.receive_response(info.create_response(200))
    assert dialog.state == "early"
    dialog.receive_response(info.create_response(481))  # §12.2.1.2: the dialog is gone
    assert dialog.state == "terminated"
    with pytest.raises(DialogError):
        dialog.create_request("BYE")
