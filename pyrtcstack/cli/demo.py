"""``pyrtcstack demo``: the live two-peer session, or (``--sdp``) a real browser SDP explained.

Without options it runs :mod:`pyrtcstack.cli._live_demo`: two peer connections in one
process over loopback — gathering, offer/answer, ICE checks, the DTLS handshake, the SCTP
association, a data channel exchange and PCMU tone both ways — then a summary. ``--trace``
narrates every protocol step with its RFC section (runs of DATA, SACK and SRTP packets folded
into one line; ``--trace-all`` shows each), ``--pcap FILE`` writes a capture and a key log
and prints the tshark command that decodes and decrypts it.

``--sdp`` instead walks through the SDP that Chromium 156's ``createOffer()`` produced
(bundled with the package), line by line, with what each part means.
"""

from __future__ import annotations

import argparse
from importlib import resources
from typing import Any

from pyrtcstack.sdp import SessionDescription
from pyrtcstack.sdp import check_description as check
from pyrtcstack.sdp import explain_description as explain

from . import _live_demo

__all__ = ["BUNDLED_OFFER", "DESCRIPTION", "register"]

DESCRIPTION = """\
A live WebRTC session between two peer connections in this process, over loopback:
gathering, offer/answer, ICE checks, the DTLS handshake, the SCTP association, a data
channel exchange and a PCMU tone both ways, then a summary. --trace narrates every
protocol step with its RFC section; --pcap FILE writes a capture and FILE.keylog (an NSS
key log) that Wireshark and tshark decode and decrypt.

With --sdp it instead walks through a real offer that Chromium's createOffer() produced
(bundled with the package), line by line, with what each part means.
"""

#: A real offer from headless Chromium 156 (audio + data channel), captured on loopback.
BUNDLED_OFFER = "data/chromium-offer.sdp"


def _explain_sdp() -> int:
    text = resources.files("pyrtcstack").joinpath(BUNDLED_OFFER).read_bytes()
    desc = SessionDescription.parse(text)
    print("pyrtcstack demo --sdp: a real WebRTC offer, explained")
    print("This is the SDP that Chromium 156's createOffer() produced for an audio track and")
    print("a data channel (bundled with pyrtcstack). Run `pyrtcstack demo` without --sdp for a")
    print("live session between two peer connections.")
    print()
    print(explain(desc), end="")
    problems = check(desc)
    print()
    print(f"Interop check: {len(problems)} problem(s)" if problems else "Interop check: clean.")
    roundtrip = SessionDescription.parse(str(desc)) == desc
    print(f"Lossless round trip (parse → write → parse): {'yes' if roundtrip else 'NO'}")
    return 0 if roundtrip else 1


def _demo(args: argparse.Namespace) -> int:
    if args.sdp:
        return _explain_sdp()
    return _live_demo.run(args)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="a live WebRTC session between two peers on loopback (--sdp: a browser SDP explained)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sdp", action="store_true", help="explain the bundled Chromium offer instead"
    )
    _live_demo.add_arguments(parser)
    parser.set_defaults(func=_demo)
