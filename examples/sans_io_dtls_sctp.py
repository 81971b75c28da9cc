"""A data channel over DTLS between two peers in memory: sans-I/O, no asyncio, no sockets.

Run it:  python examples/sans_io_dtls_sctp.py

Each peer stacks two protocol cores, the way a WebRTC data channel does (RFC 8831):

    DataChannelManager  (SCTP + DCEP: channels, messages)      pyrtcstack.datachannel
            | SCTP packets = DTLS application data (RFC 8261)
    DtlsConnection      (DTLS 1.2: handshake, encryption)      pyrtcstack.dtls
            | datagrams
    this script         (moves datagrams, keeps the clock)

A core never touches a socket or the clock: you hand it bytes and the time, and ask it
what to send and when to wake it up (get_timer). So this script plays the network (a
list, no loss) and the clock (a float that jumps to the next timer when nothing moves).
"""

from __future__ import annotations

from pyrtcstack.datachannel import (
    ChannelMessage,
    ChannelOpen,
    DataChannelManager,
    DataChannelOpened,
)
from pyrtcstack.dtls import DtlsConnection, DtlsRole, HandshakeCompleted


class Peer:
    """One endpoint: a DTLS core carrying an SCTP/data channel core."""

    def __init__(self, name: str, role: DtlsRole, address: tuple[str, int]) -> None:
        self.name = name
        self.address = address
        self.dtls = DtlsConnection(role)
        # The DTLS role also decides the data channel ids: client even, server odd.
        self.channels = DataChannelManager(dtls_role=role.name.lower())
        self.log: list[str] = []

    def step(self, now: float) -> None:
        """Carry events up the stack, then bytes down: the drain rule of every core."""
        while (event := self.dtls.next_event()) is not None:
            if isinstance(event, HandshakeCompleted):
                self.log.append("DTLS handshake done")
                self.channels.connect(now)  # SCTP INIT: both ends send one (RFC 8841 §9.3)
        # The decrypted SCTP packets, in arrival order (RFC 8261: one per DTLS record).
        self.channels.receive_packets(self.dtls.take_application_data(), now)
        while (event := self.channels.next_event()) is not None:
            if isinstance(event, DataChannelOpened):
                self.log.append(f"the peer opened channel {event.channel.label!r}")
            elif isinstance(event, ChannelOpen):
                event.channel.send(f"hello from {self.name}")  # str: a text message
            elif isinstance(event, ChannelMessage):
                self.log.append(f"received {event.data!r}")
                if isinstance(event.data, str) and event.data.startswith("hello"):
                    event.channel.send(b"\x00\x01binary reply")  # bytes: a binary message
        # Drain last: what send() queued leaves now, encrypted in DTLS records.
        for packet in self.channels.packets_to_send(now):
            self.dtls.send(packet)

    def next_timer(self) -> float | None:
        timers = [t for t in (self.dtls.get_timer(), self.channels.get_timer()) if t is not None]
        return min(timers, default=None)

    def handle_timers(self, now: float) -> None:
        for core in (self.dtls, self.channels):
            timer = core.get_timer()
            if timer is not None and timer <= now:
                core.handle_timer(now)


def main() -> None:
    alice = Peer("alice", DtlsRole.CLIENT, ("192.0.2.1", 1000))
    bob = Peer("bob", DtlsRole.SERVER, ("192.0.2.2", 2000))
    # In WebRTC the fingerprints travel in the SDP (a=fingerprint) and the address comes
    # from ICE; here we hand them over directly.
    alice.dtls.set_remote_fingerprints([bob.dtls.local_fingerprint], now=0.0)
    bob.dtls.set_remote_fingerprints([alice.dtls.local_fingerprint], now=0.0)
    alice.dtls.set_remote_address(bob.address)
    alice.channels.create_data_channel("chat")  # announced with DCEP once SCTP is up

    now = 0.0
    bob.dtls.start(now)
    alice.dtls.start(now)  # the client queues its ClientHello

    def done() -> bool:  # each side got the other's text and binary messages
        return all(sum("received" in line for line in p.log) == 2 for p in (alice, bob))

    while now < 30.0 and not done():
        moved = False
        for sender, receiver in ((alice, bob), (bob, alice)):
            for data, _destination in sender.dtls.datagrams_to_send(now):
                receiver.dtls.receive_datagram(data, sender.address, now)
                moved = True
        for peer in (alice, bob):
            peer.step(now)
        if not moved:  # the network is quiet: let the clock run to the next timer
            timers = [t for t in (alice.next_timer(), bob.next_timer()) if t is not None]
            if not timers:
                break
            now = max(now, min(timers))
            for peer in (alice, bob):
                peer.handle_timers(now)

    for peer in (alice, bob):
        for line in peer.log:
            print(f"{peer.name}: {line}")


if __name__ == "__main__":
    main()
