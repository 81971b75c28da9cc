"""One line per RTP or RTCP packet, for people reading a trace (``pyrtcstack demo
--trace``). Only headers are read, so it works on SRTP and SRTCP too (``secure=True``):
SRTP leaves the RTP header in clear (RFC 3711 §3.1) and SRTCP the first 8 bytes of the
first RTCP packet (§3.4). Best effort: nothing here raises, whatever the bytes.
"""

from __future__ import annotations

from .rtcp import RTCP_APP, RTCP_BYE, RTCP_PSFB, RTCP_RR, RTCP_RTPFB, RTCP_SDES, RTCP_SR

__all__ = ["describe", "stream_label"]

#: RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1).
_RTCP = {
    RTCP_SR: "SR",
    RTCP_RR: "RR",
    RTCP_SDES: "SDES",
    RTCP_BYE: "BYE",
    RTCP_APP: "APP",
    RTCP_RTPFB: "RTPFB",
    RTCP_PSFB: "PSFB",
}


def _is_rtcp(packet: bytes) -> bool:
    # RFC 5761 §4: with RTP and RTCP on one port, RTCP's packet type 192–223 takes the
    # place of RTP's marker bit and payload type.
    return 192 <= packet[1] <= 223


def stream_label(packet: bytes) -> str:
    """``PT 0 SSRC 1a2b3c4d`` for an RTP packet (the packets a trace folds into one run per
    stream), "" for RTCP or anything shorter than an RTP header (RFC 3550 §5.1)."""
    if len(packet) < 12 or packet[0] >> 6 != 2 or _is_rtcp(packet):
        return ""
    return f"PT {packet[1] & 0x7F} SSRC {int.from_bytes(packet[8:12], 'big'):08x}"


def describe(packet: bytes, *, secure: bool = False) -> str:
    """``SRTP 172 B, PT 0, SSRC 1a2b3c4d, seq 4,711 (RFC 3711 §3.1)`` or ``SRTCP 80 B,
    first packet SR from 1a2b3c4d (RFC 3711 §3.4, RFC 3550 §6.4.1)``; without
    ``secure`` the same header in clear (``RTP``, ``RTCP``: every packet of a compound)."""
    size = len(packet)
    if size < 2 or packet[0] >> 6 != 2:
        return f"{'SRTP' if secure else 'RTP'} (malformed, {size:,} B)"
    if _is_rtcp(packet):
        return _describe_rtcp(packet, secure)
    name = "SRTP" if secure else "RTP"
    if size < 12:
        return f"{name} (truncated header, {size:,} B)"
    seq = int.from_bytes(packet[2:4], "big")
    marker = ", marker" if packet[1] & 0x80 else ""
    where = "RFC 3711 §3.1" if secure else "RFC 3550 §5.1"
    pt, ssrc = packet[1] & 0x7F, int.from_bytes(packet[8:12], "big")
    return f"{name} {size:,} B, PT {pt}, SSRC {ssrc:08x}, seq {seq}{marker} ({where})"


def _describe_rtcp(packet: bytes, secure: bool) -> str:
    size = len(packet)
    names: list[str] = []
    pos = 0
    # SRTCP encrypts all but the first packet's first 8 bytes: read one header only
    while pos + 8 <= size and (not secure or pos == 0):
        ptype = packet[pos + 1]
        sender = int.from_bytes(packet[pos + 4 : pos + 8], "big")
        names.append(f"{_RTCP.get(ptype, f'PT {ptype}')} from {sender:08x}")
        pos += 4 * (int.from_bytes(packet[pos + 2 : pos + 4], "big") + 1)
    listed = ", ".join(names) if names else "(truncated)"
    if secure:
        return f"SRTCP {size:,} B, first packet {listed} (RFC 3711 §3.4, RFC 3550 §6)"
    return f"RTCP {size:,} B: {listed} (RFC 3550 §6)"
