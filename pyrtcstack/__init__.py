"""pyrtcstack — a pure-Python WebRTC protocol stack.

Each protocol is an independent subpackage with a sans-I/O core (see
docs/architecture.md): :mod:`pyrtcstack.sdp`, :mod:`pyrtcstack.stun`,
:mod:`pyrtcstack.turn`, :mod:`pyrtcstack.ice`, :mod:`pyrtcstack.dtls`,
:mod:`pyrtcstack.sctp`, :mod:`pyrtcstack.datachannel`, :mod:`pyrtcstack.rtp`,
:mod:`pyrtcstack.srtp`, :mod:`pyrtcstack.media`; :mod:`pyrtcstack.aio` drives them on
asyncio.
"""

#: The package version; pyproject.toml reads it from here (the one source of truth).
__version__ = "0.1.0.dev0"

__all__ = ["PeerConnection", "__version__"]


def __getattr__(name: str) -> object:
    """Lazy ``pyrtcstack.PeerConnection``: importing ``pyrtcstack.sdp`` (or any single
    module) must not import asyncio or the whole stack, so the import runs on first use.

    It is a plain import statement, so import-linter sees the edge ``pyrtcstack`` →
    ``pyrtcstack.aio``: the package root stands above every layer (.importlinter), and a
    protocol module that imported the root would be reported as importing ``aio``."""
    if name == "PeerConnection":
        from .aio import PeerConnection

        return PeerConnection
    raise AttributeError(f"module 'pyrtcstack' has no attribute {name!r}")
