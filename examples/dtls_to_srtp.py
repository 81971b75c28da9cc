"""DTLS → SRTP: from a finished DTLS handshake to protected media packets, all in memory.

Run it:  python examples/dtls_to_srtp.py

What happens (RFC 5764, "DTLS-SRTP"):
1. Two DtlsConnection cores (sans-I/O: they never touch a socket) do the DTLS handshake.
   We carry their datagrams between them ourselves. In the ClientHello the client offers
   SRTP protection profiles (the use_srtp extension); the server picks one.
2. Both ends run the TLS exporter on the handshake's secrets. ``srtp_keys()`` does it and
   cuts the output into the client's and the server's master keys (RFC 5764 §4.2).
3. Each end builds an SrtpSession: it protects with its own write key and unprotects with
   the peer's. The DTLS client uses the "client write" key, the server the "server write"
   one, which is why from_keys() wants to know the role.
"""

from __future__ import annotations

import struct

from pyrtcstack.dtls import DtlsConnection, DtlsRole, HandshakeCompleted
from pyrtcstack.srtp import SrtpSession

CLIENT, SERVER = ("192.0.2.1", 4000), ("192.0.2.2", 5000)  # addresses are only labels here
client = DtlsConnection(DtlsRole.CLIENT, remote_address=SERVER)
server = DtlsConnection(DtlsRole.SERVER)
# In WebRTC the fingerprints come from the SDP (a=fingerprint); here we just swap them.
client.set_remote_fingerprints([server.local_fingerprint], now=0.0)
server.set_remote_fingerprints([client.local_fingerprint], now=0.0)

now = 0.0  # sans-I/O: time is an argument; nothing is lost in memory, so no timer fires
server.start(now)  # the server waits for a ClientHello
client.start(now)  # the client queues its ClientHello
for _flight in range(10):  # a DTLS 1.2 handshake needs 4 flights
    # Carry every queued datagram to the other side (a real driver uses a UDP socket).
    for data, _dest in client.datagrams_to_send(now):
        server.receive_datagram(data, CLIENT, now)
    for data, _dest in server.datagrams_to_send(now):
        client.receive_datagram(data, SERVER, now)
    if client.is_established and server.is_established:
        break
else:
    raise SystemExit("the handshake did not finish")

for conn in (client, server):
    while (event := conn.next_event()) is not None:
        if isinstance(event, HandshakeCompleted):
            print(f"{conn.role.name.lower()}: DTLS done, SRTP profile {event.srtp_profile.name}")

# Step 2 and 3: the exported keys, one SrtpSession per end.
keys = client.srtp_keys()  # the server's srtp_keys() is the same (a shared secret)
print("keys:", keys)  # the repr shows the profile and sizes, never the key bytes
tx = SrtpSession.from_keys(keys, is_client=client.role is DtlsRole.CLIENT)
rx = SrtpSession.from_keys(server.srtp_keys(), is_client=server.role is DtlsRole.CLIENT)

# An RTP packet (RFC 3550 §5.1): V=2, PT 0 (PCMU), sequence 1, timestamp 160, SSRC.
rtp = struct.pack("!BBHII", 0x80, 0, 1, 160, 0x1234ABCD) + b"\xff" * 160
srtp = tx.protect_rtp(rtp)  # payload encrypted, auth tag appended
print(f"RTP {len(rtp)} B -> SRTP {len(srtp)} B (+{len(srtp) - len(rtp)} B tag)")
assert srtp[12:] != rtp[12:]  # the payload is no longer readable
assert rx.unprotect_rtp(srtp) == rtp  # the server gets the original packet back
print("the server unprotected the packet: identical to what the client sent")
