"""pyrtcstack — a pure-Python WebRTC protocol stack.

Each protocol is an independent subpackage with a sans-I/O core (see
docs/architecture.md): :mod:`pyrtcstack.sdp`, :mod:`pyrtcstack.stun`,
:mod:`pyrtcstack.turn`, :mod:`pyrtcstack.ice`, :mod:`pyrtcstack.dtls`,
:mod:`pyrtcstack.sctp`, :mod:`pyrtcstack.datachannel`, :mod:`pyrtcstack.rtp`,
:mod:`pyrtcstack.srtp`, :mod:`pyrtcstack.media`; :mod:`pyrtcstack.aio` drives them on
asyncio.
"""

__version__ = "0.1.0.dev0"
