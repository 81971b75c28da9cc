"""Shared helpers written once and used by every protocol module.

* :mod:`pyrtcstack.common.buffer` — bounded big-endian reader/writer with strict lengths.
* :mod:`pyrtcstack.common.errors` — the error base classes and the error policy.
* :mod:`pyrtcstack.common.core` — the sans-I/O core contract family, the
  event base class and the event queue.
* :mod:`pyrtcstack.common.dtls_srtp` — the DTLS-SRTP profile and key types that
  :mod:`pyrtcstack.dtls` produces and :mod:`pyrtcstack.srtp` consumes (RFC 5764).
"""

from .buffer import BufferReadError, Reader, Writer
from .core import (
    Address,
    Core,
    DatagramCore,
    Event,
    EventQueue,
    MultiSocketCore,
    PacketCore,
    Transmit,
    default_rng,
)
from .errors import LocalProtocolError, ParseError, PyrtcstackError, RemoteProtocolError

__all__ = [
    "Address",
    "BufferReadError",
    "Core",
    "DatagramCore",
    "Event",
    "EventQueue",
    "LocalProtocolError",
    "MultiSocketCore",
    "PacketCore",
    "ParseError",
    "PyrtcstackError",
    "Reader",
    "RemoteProtocolError",
    "Transmit",
    "Writer",
    "default_rng",
]
