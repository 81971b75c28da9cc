"""What an association has to say, collected by its parts until ``packets_to_send``.

The association's parts (:mod:`.handshake`, :mod:`.heartbeat`, :mod:`.shutdown`,
:mod:`.reconfig`, the chunk dispatch) never build the outgoing packets themselves: they
put what they have to say here, and :meth:`Association.packets_to_send
<pyrtcstack.sctp.association.Association.packets_to_send>` hands it on.

``packets``  complete packets that travel alone (INIT, INIT ACK, COOKIE ECHO, SHUTDOWN,
             ABORT ...): RFC 9260 §6.10 forbids bundling INIT, INIT ACK and SHUTDOWN
             COMPLETE with anything
``chunks``   encoded control chunks for the next packet (COOKIE ACK, HEARTBEAT,
             RE-CONFIG, ERROR ...), bundled before any DATA (§6.10)
``events``   the association's event queue, shared with the receiver so that messages
             and events keep their order
"""

from __future__ import annotations

from typing import Any

from ..common.core import EventQueue
from .chunks import encode_packet

__all__ = ["Outbox"]


class Outbox:
    """The association's pending output and its event queue (see the module docstring)."""

    __slots__ = ("chunks", "events", "local_port", "packets", "peer_tag", "remote_port")

    def __init__(self, local_port: int, remote_port: int) -> None:
        self.local_port = local_port
        self.remote_port = remote_port
        #: The peer's verification tag (§8.5), 0 until the handshake learnt it.
        self.peer_tag = 0
        self.packets: list[bytes] = []
        self.chunks: list[bytes] = []
        #: Events and received messages (:data:`.receiver.RawMessage` tuples), in order.
        self.events: EventQueue[Any] = EventQueue()

    def packet(self, chunks: list[bytes], tag: int | None = None) -> bytes:
        """``chunks`` in a packet of their own with the peer's tag (or ``tag``), §6.8 CRC."""
        return encode_packet(
            self.local_port, self.remote_port, self.peer_tag if tag is None else tag, chunks
        )

    def send_alone(self, chunk: bytes, tag: int | None = None) -> bytes:
        """Queue ``chunk`` in a packet of its own; returns the packet (for a retransmission)."""
        packet = self.packet([chunk], tag)
        self.packets.append(packet)
        return packet

    def clear(self) -> None:
        """Drop the control output (the association closed); events stay."""
        self.chunks = []
