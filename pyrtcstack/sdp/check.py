"""Interop checks on a parsed SDP: what a browser or gateway would refuse or mis-handle.

:func:`check` returns :class:`Problem` items; ``error`` ones break interop (a browser's
``setRemoteDescription`` fails or media never flows), ``warning`` ones are legal but
suspicious. Each names the rule it comes from. Used by ``pyrtcstack sdp check``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from pyrtcstack.sdp.attributes import FINGERPRINT_SIZES, ICE_CHARS
from pyrtcstack.sdp.errors import ParseError
from pyrtcstack.sdp.model import (
    STATIC_PAYLOAD_TYPES,
    MediaDescription,
    SessionDefaults,
    SessionDescription,
)

__all__ = ["Problem", "check", "guess_type", "is_dtls"]

_Add = Callable[[str, str, str, str], None]

#: DTLS over ICE: "UDP/TLS/RTP/SAVP(F)" is DTLS-SRTP despite its name (RFC 5764 §8)
_DTLS_PREFIXES = ("UDP/TLS/", "UDP/DTLS/", "TCP/DTLS/", "DTLS/")
#: TLS over TCP (BFCP, MSRP, plain TCP/TLS, RFC 8122): fingerprint and setup, no ICE
_TLS_PREFIXES = ("TCP/TLS/",)
#: the profile older WebRTC peers (Chrome before 2016, Jitsi, Janus) write for DTLS-SRTP
_LEGACY_SRTP = ("RTP/SAVPF", "RTP/SAVP")


def is_dtls(m: MediaDescription, level: SessionDefaults) -> bool:
    """The section runs DTLS (so ICE, a=fingerprint and a=setup matter): a DTLS profile,
    or ``RTP/SAVPF``/``RTP/SAVP`` with a fingerprint (DTLS-SRTP written the old way;
    without one it is SDES or plain SRTP keying)."""
    if m.protocol.startswith(_DTLS_PREFIXES):
        return True
    return m.protocol in _LEGACY_SRTP and bool(m.effective_fingerprints(level))


@dataclass(frozen=True, slots=True)
class Problem:
    severity: str  #: "error" or "warning"
    where: str  #: "session" or "m=audio (mid 0, #1)"
    message: str
    rule: str  #: the RFC section (or JSEP / checklist id) the rule comes from

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message} [{self.rule}]"


def guess_type(desc: SessionDescription) -> str | None:
    """``"offer"`` if any live section says ``setup:actpass`` (an answer may not, RFC 5763
    §5), ``"answer"`` if all say ``active``/``passive``, else ``None``. An inference: the
    SDP itself does not say (callers say so when they print it)."""
    level = desc.defaults()
    setups = {m.effective_setup(level) for m in desc.media if m.port or m.bundle_only}
    if "actpass" in setups:
        return "offer"
    if setups and setups <= {"active", "passive"}:
        return "answer"
    return None


def _no_setup(kind: str | None, inferred: bool) -> str:
    """RFC 4145 §4: without a=setup the offerer is active, the answerer passive."""
    if kind is None:
        return (
            "no a=setup: the default is 'active' in an offer and 'passive' in an answer, and "
            "nothing tells which this is"
        )
    default = "active" if kind == "offer" else "passive"
    how = " (inferred from the other sections' a=setup)" if inferred else ""
    return f"no a=setup: in an {kind}{how} the default '{default}' applies"


def _where(m: MediaDescription, index: int) -> str:
    return (
        f"m={m.kind} (mid {m.mid}, #{index + 1})"
        if m.mid is not None
        else (f"m={m.kind} (#{index + 1})")
    )


def check(desc: SessionDescription, sdp_type: str | None = None) -> list[Problem]:
    """Everything in ``desc`` likely to break interop; ``sdp_type`` is "offer"/"answer"
    (guessed from ``a=setup`` when ``None``)."""
    kind = sdp_type or guess_type(desc)
    inferred = sdp_type is None and kind is not None
    out: list[Problem] = []

    def add(severity: str, where: str, message: str, rule: str) -> None:
        out.append(Problem(severity, where, message, rule))

    if desc.ice_lite is False and any(m.ice_lite for m in desc.media):
        add(
            "warning",
            "session",
            "a=ice-lite inside a media section (session level only)",
            "RFC 8839 §5.3",
        )

    level = desc.defaults()
    mids = Counter(m.mid for m in desc.media if m.mid is not None)
    for mid, count in mids.items():
        if count > 1:
            add("error", "session", f"mid {mid!r} used by {count} sections", "RFC 5888 §4")
    groups = desc.groups
    for group in groups:
        for mid in group.mids:
            if mid not in mids:
                add(
                    "error",
                    "session",
                    f"a=group:{group.semantics} names mid {mid!r}, which no section has",
                    "RFC 5888 §5, RFC 9143 §7",
                )
    bundled: dict[str, int] = {}
    for gi, group in enumerate(desc.bundle_groups):
        for mid in group.mids:
            if mid in bundled:
                add("error", "session", f"mid {mid!r} is in two BUNDLE groups", "RFC 9143 §7")
            bundled[mid] = gi
    if desc.bundle_groups and any(m.mid is None and m.port for m in desc.media):
        add("error", "session", "BUNDLE is used but a section has no a=mid", "RFC 9143 §7")

    setups: set[str] = set()
    bundle_index = desc.bundle_group_index()
    for i, m in enumerate(desc.media):
        where = _where(m, i)
        if m.connection is None and level.connection is None:
            add(
                "warning",
                where,
                "no c= line here or at session level (RFC 8866 §5.7 requires one; browsers "
                "do without, SIP stacks may refuse it)",
                "RFC 8866 §5.7",
            )
        live = m.port != 0 or m.bundle_only
        if not live:
            continue
        dtls = is_dtls(m, level)
        secure = dtls or m.protocol.startswith(_TLS_PREFIXES)
        if m.protocol.startswith("RTP/SAVP") and m.attribute_values("crypto"):
            add(
                "warning",
                where,
                "SDES a=crypto keying: browsers only do DTLS-SRTP",
                "RFC 8827 §6.5",
            )
        ufrag, pwd = m.effective_ice_ufrag(level), m.effective_ice_pwd(level)
        if dtls or ufrag or pwd:
            if not ufrag or not pwd:
                add("error", where, "no ICE credentials (a=ice-ufrag / a=ice-pwd)", "RFC 8839 §5.4")
            else:
                if not (4 <= len(ufrag) <= 256 and ICE_CHARS.issuperset(ufrag)):
                    add(
                        "error",
                        where,
                        f"ice-ufrag {ufrag!r} is not 4-256 ice-chars",
                        "RFC 8839 §5.4",
                    )
                if not (22 <= len(pwd) <= 256 and ICE_CHARS.issuperset(pwd)):
                    add(
                        "error",
                        where,
                        f"ice-pwd is {len(pwd)} chars or not ice-chars "
                        "(22-256 ALPHA/DIGIT/+/ required)",
                        "RFC 8839 §5.4",
                    )
        if secure:
            fps = m.effective_fingerprints(level)
            if not fps:
                add(
                    "error",
                    where,
                    "no a=fingerprint: DTLS cannot authenticate the peer",
                    "RFC 8122 §5, RFC 8842 §5",
                )
            elif not any(f.algorithm.lower() in FINGERPRINT_SIZES for f in fps):
                add(
                    "error",
                    where,
                    "no fingerprint with a known hash (sha-256 expected)",
                    "RFC 8122 §5",
                )
            setup = m.effective_setup(level)
            if setup is None:
                add("warning", where, _no_setup(kind, inferred), "RFC 4145 §4, RFC 8842 §5")
            else:
                # one role per transport: a BUNDLE group counts once (its own check below
                # reports members that disagree)
                owner = bundle_index.get(m.mid) if m.mid is not None else None
                if dtls and (owner is None or owner.mids[0] == m.mid):
                    setups.add(setup)
                if setup == "holdconn":
                    add(
                        "error",
                        where,
                        "a=setup:holdconn: no DTLS connection will be made",
                        "RFC 4145 §4",
                    )
                if kind == "answer" and setup == "actpass":
                    add(
                        "error",
                        where,
                        "an answer must say active or passive, not actpass",
                        "RFC 5763 §5",
                    )
        if m.kind in ("audio", "video") and "RTP" in m.protocol:
            _check_rtp(m, where, add)
        if (
            m.kind == "application"
            and "SCTP" in m.protocol
            and m.sctp_port is None
            and m.sctpmap is None
        ):
            add("warning", where, "no a=sctp-port: the default 5000 is assumed", "RFC 8841 §5")
    if len(setups - {"holdconn"}) > 1:
        add(
            "error",
            "session",
            f"sections disagree on the DTLS role: {sorted(setups)}",
            "RFC 8842 §5, RFC 9143 §7",
        )
    _check_bundle_consistency(desc, level, add)
    return out


def _check_rtp(m: MediaDescription, where: str, add: _Add) -> None:
    if not m.rtcp_mux and m.protocol.startswith(("UDP/TLS", "TCP/DTLS")):
        add(
            "error",
            where,
            "no a=rtcp-mux (browsers require RTP/RTCP multiplexing)",
            "RFC 9429 §4.1.1, RFC 8858",
        )
    rtpmaps = {r.payload_type: r for r in m.rtpmaps}
    formats = set(m.formats)
    for fmt in m.formats:
        if not (fmt.isascii() and fmt.isdigit() and int(fmt) <= 127):
            add("error", where, f"format {fmt!r} is not an RTP payload type", "RFC 8866 §5.14")
        elif int(fmt) not in rtpmaps and int(fmt) not in STATIC_PAYLOAD_TYPES:
            add("error", where, f"dynamic payload type {fmt} has no a=rtpmap", "RFC 8866 §6.6")
    for pt in rtpmaps:
        if str(pt) not in formats:
            add("warning", where, f"a=rtpmap:{pt} is not in the m= format list", "RFC 8866 §6.6")
    for codec in m.codecs():
        if codec.name.lower() == "rtx":
            apt = codec.parameters.get("apt")
            if apt is None:
                add(
                    "error",
                    where,
                    f"rtx payload {codec.payload_type} has no apt parameter (a=fmtp:"
                    f"{codec.payload_type} apt=<payload type it repairs> is required)",
                    "RFC 4588 §8.6",
                )
            elif apt not in formats:
                add(
                    "error",
                    where,
                    f"rtx payload {codec.payload_type} repairs payload type {apt} (apt), "
                    "which is not in the m= line",
                    "RFC 4588 §8.6",
                )
    ids: dict[int, str] = {}
    try:
        extmaps = m.extmaps
    except ParseError:  # pragma: no cover - validated at parse time
        extmaps = []
    for ext in extmaps:
        if ext.id in ids and ids[ext.id] != ext.uri:
            add("error", where, f"extmap id {ext.id} used for two URIs", "RFC 8285 §5")
        ids[ext.id] = ext.uri


def _check_bundle_consistency(desc: SessionDescription, level: SessionDefaults, add: _Add) -> None:
    """RFC 9143 §7 (BUN-01, OA-08): one transport, one meaning per payload type.

    Each section is looked at once, in the first BUNDLE group naming it (a mid in two
    groups is reported above), so N repeated groups do not repeat the work."""
    index = desc.mid_index()
    claimed: set[str] = set()
    for group in desc.bundle_groups:
        members = []
        for mid in group.mids:
            m = index.get(mid)
            if m is None or mid in claimed or not (m.port or m.bundle_only):
                continue
            claimed.add(mid)
            members.append(m)
        if len(members) < 2:
            continue
        named = " ".join(group.mids)
        creds = {
            (ufrag, m.effective_ice_pwd(level))
            for m in members
            if (ufrag := m.effective_ice_ufrag(level))
        }
        if len(creds) > 1:
            add(
                "error",
                "session",
                f"BUNDLE {named}: sections carry different ICE credentials",
                "RFC 9143 §7.1",
            )
        roles = {setup for m in members if (setup := m.effective_setup(level)) is not None}
        if len(roles) > 1:
            add(
                "error",
                "session",
                f"BUNDLE {named}: sections disagree on the DTLS role (a=setup "
                f"{sorted(roles)}); one transport has one role",
                "RFC 9143 §7.1, RFC 8842 §5",
            )
        fps = {
            tuple((f.algorithm.lower(), f.value.upper()) for f in prints)
            for m in members
            if (prints := m.effective_fingerprints(level))
        }
        if len(fps) > 1:
            add(
                "error",
                "session",
                f"BUNDLE {named}: sections carry different fingerprints",
                "RFC 9143 §7.1",
            )
        seen: dict[int, tuple[str, int, int | None, str | None, str]] = {}
        for m in members:
            for c in m.codecs():
                key = (c.name.lower(), c.clock_rate, c.channels, c.fmtp, m.mid or "")
                old = seen.get(c.payload_type)
                if old is not None and old[:4] != key[:4] and old[4] != key[4]:
                    add(
                        "error",
                        "session",
                        f"BUNDLE: payload type {c.payload_type} means "
                        f"{old[0]} in mid {old[4]} and {key[0]} in mid {key[4]}",
                        "RFC 9143 §9.1",
                    )
                seen.setdefault(c.payload_type, key)
