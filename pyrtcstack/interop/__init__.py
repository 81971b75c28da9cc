"""The interop harness: our PeerConnection against headless Chromium, Firefox ESR, werift,
GStreamer webrtcbin and the Janus gateway.

* :mod:`.httpserver`: a tiny HTTP server; :mod:`.session`: the harness's signaling
  protocol over it (documented in docs/interop.md);
* :mod:`.launchers`: start/stop each peer with loopback-only flags and prefs;
* ``assets/page.html`` + ``assets/peer.js`` (the browser side), ``werift/werift_peer.mjs``
  (the Node side, sharing peer.js), ``gstreamer/gst_peer.py`` (webrtcbin, run by the
  system python3: the same protocol in Python);
* :mod:`.janus`: Janus's echotest plugin driven over Janus's own HTTP API (a server, not
  a page);
* :mod:`.scenarios`: our side of each scenario and its checks; :mod:`.matrix`: runs peers
  and prints the table. ``pyrtcstack interop PEER`` is the command line;
* :mod:`.remote`: the same scenarios against a remote endpoint's HTTP protocol
  (``pyrtcstack interop URL``); :mod:`.endpoint`: our PeerConnection serving that protocol
  (``pyrtcstack interop --endpoint``).
"""

from __future__ import annotations

from .launchers import PEERS, PeerUnavailableError
from .matrix import Launch, default_plan, format_table, run_launch, run_peer
from .scenarios import CheckResult, ScenarioResult, scenario_spec

__all__ = [
    "PEERS",
    "CheckResult",
    "Launch",
    "PeerUnavailableError",
    "ScenarioResult",
    "default_plan",
    "format_table",
    "run_launch",
    "run_peer",
    "scenario_spec",
]
