"""Shared helpers written once and used by every protocol module.

* :mod:`pyrtcstack.common.buffer` — bounded big-endian reader/writer with strict lengths.
* :mod:`pyrtcstack.common.errors` — the error base classes and the error policy.
* :mod:`pyrtcstack.common.core` — the sans-I/O core contract and the event base class.
* :mod:`pyrtcstack.common.dtls_srtp` — the DTLS-SRTP profile and key types that
  :mod:`pyrtcstack.dtls` produces and :mod:`pyrtcstack.srtp` consumes (RFC 5764).
"""

from .buffer import BufferReadError, Reader, Writer
from .core import Address, DatagramCore, Event, default_rng
from .errors import LocalProtocolError, ParseError, PyrtcstackError, RemoteProtocolError

__all__ = [
    "Address",
    "BufferReadError",
    "DatagramCore",
    "Event",
    "LocalProtocolError",
    "ParseError",
    "PyrtcstackError",
    "Reader",
    "RemoteProtocolError",
    "Writer",
    "default_rng",
]
