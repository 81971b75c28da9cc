"""``pyrtcstack demo``: for now, parse and explain a real browser SDP bundled with the package.

The live two-peer demo comes with the peer connection; this module is meant to be replaced.
"""

from __future__ import annotations

import argparse
from importlib import resources
from typing import Any

from pyrtcstack.sdp import SessionDescription
from pyrtcstack.sdp.check import check
from pyrtcstack.sdp.explain import explain

__all__ = ["BUNDLED_OFFER", "register"]

#: A real offer from headless Chromium 156 (audio + data channel), captured on loopback.
BUNDLED_OFFER = "data/chromium-offer.sdp"


def _demo(args: argparse.Namespace) -> int:
    text = resources.files("pyrtcstack").joinpath(BUNDLED_OFFER).read_bytes()
    desc = SessionDescription.parse(text)
    print("pyrtcstack demo: a real WebRTC offer, explained")
    print("This is the SDP that Chromium 156's createOffer() produced for an audio track and")
    print("a data channel (bundled with pyrtcstack). The live two-peer demo (ICE, DTLS, SCTP,")
    print("SRTP between two peers) comes with the peer connection.")
    print()
    print(explain(desc), end="")
    problems = check(desc)
    print()
    print(f"Interop check: {len(problems)} problem(s)" if problems else "Interop check: clean.")
    roundtrip = SessionDescription.parse(str(desc)) == desc
    print(f"Lossless round trip (parse → write → parse): {'yes' if roundtrip else 'NO'}")
    return 0 if roundtrip else 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="explain a real browser offer (grows later)")
    parser.set_defaults(func=_demo)
