"""WHIP (RFC 9725) and WHEP (draft-ietf-wish-whep): HTTP signaling for ingest and playback.

The text formats are here without HTTP: :mod:`.sdpfrag` (RFC 8840 trickle-ice-sdpfrag
bodies of PATCH) and :mod:`.links` (RFC 9725 §4.6 ICE servers in Link headers). The server
(:class:`WhipServer`) and the clients (:class:`WhipClient`, :class:`WhepClient`) need the
``whip`` extra (aiohttp, see docs/dependencies.md); they are imported on first use, so
``import pyrtcstack.whip`` works without it. docs/whip.md has the protocol for learners.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .links import IceServerLink, Link, LinkHeaderError, ice_servers, parse_link_header
from .sdpfrag import (
    SDPFRAG_TYPE,
    FragMedia,
    SdpFrag,
    SdpFragError,
    frag_from_sdp,
    parse_sdpfrag,
    replace_ice,
)
from .sessions import AUDIO_PREFERENCES, EXTENSIONS, open_recorder, open_track, video_preference

if TYPE_CHECKING:
    from .client import WhepClient, WhipClient, WhipError
    from .server import ServerOptions, WhipServer

__all__ = [
    "AUDIO_PREFERENCES",
    "EXTENSIONS",
    "SDPFRAG_TYPE",
    "FragMedia",
    "IceServerLink",
    "Link",
    "LinkHeaderError",
    "SdpFrag",
    "SdpFragError",
    "ServerOptions",
    "WhepClient",
    "WhipClient",
    "WhipError",
    "WhipServer",
    "frag_from_sdp",
    "ice_servers",
    "open_recorder",
    "open_track",
    "parse_link_header",
    "parse_sdpfrag",
    "replace_ice",
    "video_preference",
]

_LAZY = {
    "WhipClient": "client",
    "WhepClient": "client",
    "WhipError": "client",
    "WhipServer": "server",
    "ServerOptions": "server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
