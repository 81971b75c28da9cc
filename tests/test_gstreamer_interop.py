"""Our PeerConnection against GStreamer webrtcbin 1.22 (libnice, OpenSSL, usrsctp), the
stack many Linux and embedded products use. The peer is
``pyrtcstack/interop/gstreamer/gst_peer.py``, run by the system python3 (Debian
``python3-gi``; the project's venv has no ``gi``), speaking the harness's HTTP protocol
like the browser page and werift. Both roles, trickle and not, PCMU both ways, both roles
through coturn with webrtcbin forced to relay, Opus from webrtcbin (decoded by ffmpeg),
and our DTLS 1.3-capable side falling back to its 1.2. No ICE restart: webrtcbin 1.22 has
none. Loopback only."""

from __future__ import annotations

import asyncio
import shutil
import tempfile

import pytest

from pyrtcstack.interop import PeerUnavailableError, default_plan, format_table, run_launch
from pyrtcstack.interop.launchers import find_peer
from pyrtcstack.interop.matrix import summary
from tests.peers import peer_missing, require_binary

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]

#: 7 scenarios in the main launch (12 + 12 + 14 + 14 + 13 + 13 + 13 checks) and 2 with our
#: side 1.3-capable (12 + 12): 115 rows, of which the 18 empty-message rows are quirks.
EXPECTED_ROWS = 115


def test_gstreamer_matrix() -> None:
    try:
        find_peer("gstreamer")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    require_binary("turnserver", "coturn")  # the relay scenarios
    require_binary("ffmpeg", "ffmpeg")  # decodes the Opus scenario's audio
    log_dir = tempfile.mkdtemp(prefix="pyrtcstack-gstreamer-")

    async def main() -> list:  # type: ignore[type-arg]
        results = []
        for item in default_plan("gstreamer"):
            results += await run_launch(item, log_dir=log_dir)
        return results

    results = asyncio.run(main())
    table = format_table(results)
    print(f"\n{table}\n(logs in {log_dir})")
    passed, failed = summary(results)
    assert failed == 0, f"{failed} failing checks against GStreamer:\n{table}\nlogs: {log_dir}"
    rows = [c for r in results for c in r.checks]
    quirks = [c for c in rows if c.ok is None and c.detail.startswith("quirk")]
    assert {c.name for c in quirks} <= {"empty-string", "empty-binary"}, table
    assert passed + len(quirks) == len(rows) == EXPECTED_ROWS, table
    assert {(r.role, r.trickle) for r in results} == {
        (role, trickle) for role in ("we-offer", "peer-offers") for trickle in (True, False)
    }, table
    for r in results:
        # webrtcbin's OpenSSL speaks DTLS 1.2 only: our 1.3-capable side falls back.
        assert r.dtls_version == "1.2" and r.cipher.startswith("TLS_ECDHE_"), table
    names = {c.name for c in rows}
    assert {"audio-from-peer", "audio-to-peer", "turn-relay", "getStats-agree"} <= names
    assert "opus-from-peer" in names
    shutil.rmtree(log_dir, ignore_errors=True)
