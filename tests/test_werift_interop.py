"""Our PeerConnection against werift (TypeScript WebRTC on Node, installed by
``scripts/setup.sh --system`` with ``npm ci`` into .werift/): the same scenarios as the
browsers, one werift process for all of them. werift gets a STUN server of ours on
loopback (it falls back to stun.l.google.com otherwise)."""

from __future__ import annotations

import pytest

from tests.test_browser_interop import run_matrix

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]


def test_werift_matrix() -> None:
    # No ICE restart; empty messages are a werift quirk (docs/interop.md).
    run_matrix("werift", min_passed=52)  # 44 checks pass + 8 werift quirks
