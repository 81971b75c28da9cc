"""RTP parse/serialise and SRTP protect+unprotect rates, ours beside aiortc's, same run.

* RTP: a 1,200-byte packet with three one-byte header extensions (mid, abs-send-time,
  transport-wide sequence number), parsed and serialised by our :class:`RtpPacket` and by
  aiortc's ``aiortc.rtp.RtpPacket`` (with a ``HeaderExtensionsMap`` configured for the
  same IDs, as aiortc's receiver does).
* SRTP: 1,200-byte packets protected then unprotected, by our :class:`SrtpSession` and by
  two ``pylibsrtp.Session`` objects set up exactly as aiortc's ``RTCDtlsTransport`` does
  (``SSRC_ANY_OUTBOUND``/``SSRC_ANY_INBOUND``, ``allow_repeat_tx``, window 1024), for each
  profile libsrtp supports.

Run: ``.venv/bin/python bench/bench_rtp.py [--repeat N]``. The machine is shared and its
speed drifts: compare only within one run; the median of the repeats is printed.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import struct
import time
from collections.abc import Callable

from pyrtcstack.rtp import RtpPacket
from pyrtcstack.srtp import SrtpProfile, SrtpSession, supported_profiles

N_RTP = 50_000
N_SRTP = 20_000


def _once(fn: Callable[[], int]) -> float:
    t = time.perf_counter()
    n = fn()
    return n / (time.perf_counter() - t)


def compare(ours: Callable[[], int], theirs: Callable[[], int], repeat: int) -> tuple[float, float]:
    """Median rates of the two, run interleaved (ours, theirs, ours, ...) so that drift in
    the shared machine's speed hits both alike."""
    a, b = [], []
    for _ in range(repeat):
        a.append(_once(ours))
        b.append(_once(theirs))
    return statistics.median(a), statistics.median(b)


def sample_packet() -> bytes:
    """1,200 bytes: 12-byte header, 16 bytes of one-byte extensions, 1,172 payload bytes."""
    return RtpPacket(
        96,
        1234,
        567890,
        0xCAFEBABE,
        (bytes(range(256)) * 5)[:1172],
        marker=True,
        extensions={1: b"0", 2: b"\x01\x02\x03", 3: b"\x00\x07"},
    ).serialize()


def bench_rtp(repeat: int) -> None:
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap
    from aiortc.rtp import RtpPacket as AiortcRtpPacket

    data = sample_packet()
    assert len(data) == 1200
    emap = HeaderExtensionsMap()
    emap.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(1, "urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(
                    2, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
                ),
                RTCRtpHeaderExtensionParameters(
                    3, "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
                ),
            ]
        )
    )
    theirs = AiortcRtpPacket.parse(data, emap)
    assert theirs.extensions.mid == "0" and theirs.extensions.transport_sequence_number == 7
    ours = RtpPacket.parse(data)

    def our_parse() -> int:
        parse = RtpPacket.parse
        for _ in range(N_RTP):
            parse(data)
        return N_RTP

    def their_parse() -> int:
        parse = AiortcRtpPacket.parse
        for _ in range(N_RTP):
            parse(data, emap)
        return N_RTP

    def our_serialise() -> int:
        for _ in range(N_RTP):
            ours.serialize()
        return N_RTP

    def their_serialise() -> int:
        for _ in range(N_RTP):
            theirs.serialize(emap)
        return N_RTP

    for name, a, b in (
        ("RTP parse", our_parse, their_parse),
        ("RTP serialise", our_serialise, their_serialise),
    ):
        ra, rb = compare(a, b, repeat)
        print(f"{name:28s} ours {ra:>10,.0f}/s  aiortc {rb:>10,.0f}/s  ratio {ra / rb:5.2f}x")


def _packets(plain: bytes) -> list[bytes]:
    return [plain[:2] + struct.pack("!H", i & 0xFFFF) + plain[4:] for i in range(N_SRTP)]


def _ours_round(profile: SrtpProfile, key: bytes, packets: list[bytes]) -> int:
    tx = SrtpSession(profile, key, key)
    rx = SrtpSession(profile, key, key)
    for p in packets:
        rx.unprotect_rtp(tx.protect_rtp(p))
    return len(packets)


def _aiortc_round(profile: SrtpProfile, key: bytes, packets: list[bytes]) -> int:
    from pylibsrtp import Policy, Session

    # exactly as aiortc's RTCDtlsTransport._setup_srtp configures its two sessions
    tx_policy = Policy(
        key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile.libsrtp_profile
    )
    tx_policy.allow_repeat_tx = True
    tx_policy.window_size = 1024
    rx_policy = Policy(
        key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile.libsrtp_profile
    )
    rx_policy.allow_repeat_tx = True
    rx_policy.window_size = 1024
    tx, rx = Session(tx_policy), Session(rx_policy)
    for p in packets:
        rx.unprotect(tx.protect(p))
    return len(packets)


def bench_srtp(repeat: int) -> None:
    packets = _packets(sample_packet())
    for profile in supported_profiles():
        key = bytes(range(profile.master_length))
        ra, rb = compare(
            functools.partial(_ours_round, profile, key, packets),
            functools.partial(_aiortc_round, profile, key, packets),
            repeat,
        )
        label = f"SRTP {profile.name[5:]} p+u"
        print(f"{label:28s} ours {ra:>10,.0f}/s  aiortc {rb:>10,.0f}/s  ratio {ra / rb:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print("1,200-byte packets; packets per second, median of", args.repeat, "runs")
    bench_rtp(args.repeat)
    bench_srtp(args.repeat)


if __name__ == "__main__":
    main()
