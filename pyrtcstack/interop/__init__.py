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

from .endpoint import Endpoint
from .httpserver import HttpServer, Request, Response
from .launchers import PEERS, PeerUnavailableError
from .matrix import (
    Launch,
    default_plan,
    default_scenarios,
    format_table,
    run_launch,
    run_peer,
    summary,
)
from .remote import EndpointError, run_url, settings_for
from .scenarios import CheckResult, ScenarioResult, run_scenario, scenario_spec
from .session import PeerSession

__all__ = [
    "PEERS",
    "CheckResult",
    "Endpoint",
    "EndpointError",
    "HttpServer",
    "Launch",
    "PeerSession",
    "PeerUnavailableError",
    "Request",
    "Response",
    "ScenarioResult",
    "default_plan",
    "default_scenarios",
    "format_table",
    "run_launch",
    "run_peer",
    "run_scenario",
    "run_url",
    "scenario_spec",
    "settings_for",
    "summary",
]
