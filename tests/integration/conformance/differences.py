"""The deliberate differences between our gateway and Janus 1.1.2's SIP plugin: the one list.

Every entry says what differs and why; the suite removes exactly these from our transcript
(``apply``) before comparing it with Janus's, so anything not listed here must match. The
same list, in prose, is the "Deliberate differences" section of ``gateway/README.md``
(``test_differences_documented`` checks that each entry's name appears there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.integration.conformance.transcript import Item, Transcript


@dataclass(frozen=True)
class Difference:
    """One deliberate difference."""

    name: str
    reason: str

    def apply(self, item: Item) -> Item | None:
        """Our normalized frame as Janus would have sent it (None: Janus sends nothing)."""
        return item


def _result(item: Item) -> dict[str, Any] | None:
    data = item.fields.get("data")
    if isinstance(data, dict) and isinstance(data.get("result"), dict):
        return data["result"]
    return None


@dataclass(frozen=True)
class ExtraEvent(Difference):
    """A plugin event only we send."""

    event: str = ""

    def apply(self, item: Item) -> Item | None:
        result = _result(item)
        if result is not None and result.get("event") == self.event:
            return None
        return item


@dataclass(frozen=True)
class ErrorTextPrefix(Difference):
    """A core error whose text is compared only up to ``prefix``."""

    code: int = 0
    prefix: str = ""

    def apply(self, item: Item) -> Item | None:
        error = item.fields.get("error")
        if isinstance(error, dict) and error.get("code") == self.code and \
                str(error.get("reason", "")).startswith(self.prefix):
            error["reason"] = self.prefix + "…"
        return item


DIFFERENCES: tuple[Difference, ...] = (
    # --- in frames the suite compares ---------------------------------------------------------
    ErrorTextPrefix(
        name="454 text for unparseable JSON",
        reason="After \"Invalid Janus API request - \" Janus quotes its JSON parser "
               "(jansson: position and complaint); ours quotes Python's. The code and the "
               "prefix are the same.",
        code=454, prefix="Invalid Janus API request - "),
    ExtraEvent(
        name="remote_hold / remote_resume events",
        reason="Janus answers a peer's re-INVITE without telling the application; ours also "
               "reports when the peer puts the call on hold or resumes it (`direction`), so "
               "the web client can show it. Clients that do not know the events ignore them.",
        event="remote_hold"),
    ExtraEvent(
        name="remote_hold / remote_resume events",
        reason="(the resume half of the same difference)",
        event="remote_resume"),
    ExtraEvent(
        name="dtmf events",
        reason="Janus passes RFC 4733 packets from the SIP side to the browser and reports a "
               "DTMF INFO only as `info`; ours also reports each key received from SIP (RFC "
               "4733 or INFO) as a `dtmf` event (`signal`, `duration`): a browser cannot read "
               "telephone-events from a received track.",
        event="dtmf"),
    # --- in requests the suite does not make (ours, or refused) -------------------------------
    Difference(
        name="webphone login (register type webfon)",
        reason="Ours: the handle's webfon token logs its user in as a web phone; the PBX "
               "control API gives the extension's credentials. `registered` then also "
               "carries `extension`, `lines`, `mode` and `identity` (the full SIP URI; "
               "`username` is its user part, as in Janus)."),
    Difference(
        name="tokens and guests",
        reason="`create`, `attach` and `claim` take a webfon token (sercen's Ed25519 JWT, "
               "403 otherwise) instead of Janus's API secret or stored tokens; a guest "
               "registration (no REGISTER) needs the setting allow_guest or a token with "
               "role admin/test (plugin error 403): a guest is an anonymous way out to SIP."),
    Difference(
        name="update",
        reason="With a JSEP offer, `update` renews the browser's leg (a new peer connection "
               "or ICE restart after a network change) and leaves the SIP media as it is; "
               "without one it refreshes the SIP session with a re-INVITE of the same media. "
               "Janus re-INVITEs the SIP side with the new offer, and refuses an update "
               "without JSEP (448). aiortc cannot restart ICE in place."),
    Difference(
        name="recording, subscribe, unsubscribe",
        reason="Calls are not recorded on the gateway (the PBX records): `recording` is "
               "checked as in Janus, then refused with 451 \"Recording is not available on "
               "this gateway\". SUBSCRIBE is not offered: `subscribe` and `unsubscribe` get "
               "442 \"Unsupported request\"."),
    Difference(
        name="SDES-SRTP towards SIP",
        reason="The SIP leg is plain RTP (the PBX is on a trusted network; WebRTC's leg is "
               "DTLS-SRTP): `srtp: sdes_optional` proceeds without SRTP, `sdes_mandatory` in "
               "a `call` is refused with 452; in `accept` it gets Janus's 452 text."),
    Difference(
        name="dtmf_info keys",
        reason="`dtmf_info` refuses a character that is not a DTMF key (444 \"Invalid "
               "element (digit should be a DTMF key)\"); Janus sends whatever character it "
               "is given."),
    Difference(
        name="dial limits and lines",
        reason="Ours: `call` refuses a dial string longer than max_digi_llam_sal (444), and "
               "a web phone's calls beyond its «Número de líneas» (447)."),
    Difference(
        name="allowed SIP servers",
        reason="Janus registers at any registrar and calls any SIP address a client names; "
               "ours only reaches the SIP servers of the setting sip_allowed_servers (by "
               "default the PBX: sip_registrar and sip_outbound_proxy) and, for a webphone "
               "login, the registrar and domain the PBX gave it. A registrar, outbound proxy, "
               "call, message or transfer target elsewhere (another host or port, a maddr, "
               "headers in the URI) gets plugin error 403 \"<what> not allowed (<host:port>)"
               "…\", and an incoming INVITE whose in-dialog requests would go elsewhere gets "
               "a SIP 403: a browser user must not use the gateway as an open SIP client "
               "(calls around the PBX, probes of internal hosts). Requests outside a call "
               "(INVITE, MESSAGE, NOTIFY, OPTIONS) from any address but those servers' get a "
               "SIP 403: only the PBX rings a browser or writes to it."),
    Difference(
        name="ids of one's own calls",
        reason="A `refer_id` (in `call` or `decline`) must be a transfer received by the "
               "handle's own account (master or helper lines); Janus accepts any handle's. "
               "One of another account is treated as unknown: `call` goes out without it, "
               "`decline` gets Janus's 447 \"Wrong state (no transfer?)\". `replace` names "
               "a call of the same account, as in Janus. A `call_id` in `call` must be "
               "visible ASCII (at most 128 characters) and not the id of a call in progress "
               "(444); Janus takes any and drops the earlier call from its table."),
    Difference(
        name="headers the gateway writes",
        reason="`headers` may not set Via, Route, Record-Route, Path, Service-Route, "
               "Max-Forwards, From, To, Call-ID, CSeq, Contact, Content-Length, Content-Type, "
               "Replaces, Refer-To or Referred-By (444 \"Invalid header '<name>' (set by the "
               "gateway)\"), and strings that go into a header (display_name, user_agent, "
               "authuser, content_type, type) may not hold control characters (444): a Route "
               "would send the request elsewhere, a line break would add headers. Janus "
               "passes them to Sofia."),
    Difference(
        name="SIP accounts and media legs per user",
        reason="Per token user (not role test) at most max_sip_accounts_per_user SIP "
               "accounts (masters; helper lines are free) and max_media_legs_per_user calls "
               "with media; beyond, plugin error 429 \"Too many … for this user (at most N); "
               "…\", and an incoming call beyond the media limit gets 486 and `missed_call`. "
               "Janus has no such limits."),
    Difference(
        name="failed refresh retried",
        reason="When a registration refresh fails (timeout, 5xx, transport) the client gets "
               "`registration_failed` as from Janus, and the user agent tries again after 30 "
               "seconds (then `registered`), instead of leaving the account unregistered."),
    Difference(
        name="server_info",
        reason="`info` describes this gateway (name, author, plugins, transports), not "
               "Janus's build."),
    # --- on the SIP and media side (not in the frames) ----------------------------------------
    Difference(
        name="RTP timeout",
        reason="Janus's SIP plugin keeps a call whose SIP side stopped sending RTP; ours ends "
               "it after sip_rtp_timeout seconds (sip_rtp_hold_timeout on hold) with a BYE and "
               "the usual `hangup` event, code 408, reason \"RTP timeout\" (as Asterisk's "
               "rtptimeout). The suite's calls are shorter than the timeout."),
    Difference(
        name="one SIP endpoint",
        reason="One SIP endpoint serves every account of the process; each account registers "
               "a Contact with a random user part. Janus runs a SIP stack per handle."),
    Difference(
        name="G.711 relay and Opus transcoding",
        reason="Calls are offered to SIP in G.711 (and RFC 4733) only and relayed without "
               "decoding; a browser that offers no G.711 is transcoded Opus <-> G.711. Janus "
               "offers the browser's codecs to the SIP side."),
    Difference(
        name="transfer NOTIFY",
        reason="A REFER received is reported to the transferor at once with NOTIFY 100 "
               "Trying (RFC 3515's initial NOTIFY), then with the new call's progress."),
)


def apply(transcript: Transcript, ours: bool = True) -> Transcript:
    """A transcript with the deliberate differences taken out: ours, or Janus's (where a
    difference rewrites both sides, such as an error text compared by its prefix)."""
    out = Transcript()
    for name, items in transcript.streams.items():
        kept = []
        for item in items:
            current: Item | None = item
            for difference in DIFFERENCES:
                if current is None:
                    break
                if ours or isinstance(difference, ErrorTextPrefix):
                    current = difference.apply(current)
            if current is not None:
                kept.append(current)
        out.streams[name] = kept
    return out
