"""Our PeerConnection against werift (TypeScript WebRTC on Node, installed by
``scripts/setup.sh --system`` with ``npm ci`` into .werift/): the same scenarios as the
browsers, one werift process for all of them. werift gets a STUN server of ours on
loopback (it falls back to stun.l.google.com otherwise)."""

from __future__ import annotations

import pytest

from tests.test_browser_interop import run_matrix

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]


def test_werift_matrix() -> None:
    # Empty messages are a werift quirk (docs/interop.md). The main launch alone has 54
    # checks (46 pass, ice-restart included, + 8 quirks); the DTLS rows add more.
    run_matrix("werift", min_passed=54)
