"""Signaling: how two peers exchange their descriptions (WebRTC leaves it to the app).

* :mod:`.blob`: copy-paste — a description as one compact, checksummed text blob
  (:func:`encode_blob` / :func:`decode_blob`), no server needed;
* :mod:`.server` / :mod:`.client`: a WebSocket server with unguessable rooms, size and rate
  limits, TLS and leave announcements (``pyrtcstack signaling-server``), and its client.
  These need the optional ``websockets`` package (``pip install pyrtcstack[signaling]``);
  they are imported lazily so the blob functions work without it.

See docs/signaling.md.
"""

from __future__ import annotations

import importlib
from typing import Any

from .blob import BlobError, decode_blob, encode_blob

__all__ = [
    "BlobError",
    "SignalingClient",
    "SignalingError",
    "SignalingServer",
    "decode_blob",
    "encode_blob",
]

_LAZY = {
    "SignalingServer": ".server",
    "SignalingClient": ".client",
    "SignalingError": ".client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
