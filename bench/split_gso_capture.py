"""Split the UDP GSO sends of a capture into one packet per DTLS record, so tshark decodes
every record (docs/interop.md, "Chromium → us after the full-window renege").

Our sockets send a run of equal-sized datagrams as one UDP GSO send (pyrtcstack/aio/udp.py).
A capture on ``lo`` sees that send before the kernel segments it: one "packet" whose UDP
payload is up to 64 DTLS records back to back, of which tshark 4.0 decodes only the first
(a burst of 60 SACKs shows as one). Each DTLS record (RFC 6347 §4.1: 13-byte header with
its length) is written as a packet of its own with the same time, Ethernet and IPv4
headers (length and header checksum fixed, UDP checksum 0). Packets that are not a run of
whole DTLS 1.2 records are copied as they are.

Input and output are classic pcap with Ethernet frames (``tshark -r IN.pcapng -F pcap -w
IN.pcap`` first)::

    python bench/split_gso_capture.py IN.pcap OUT.pcap
"""

from __future__ import annotations

import struct
import sys

_RECORD_HEADER = 13  # DTLS 1.2: type, version, epoch, sequence number, length
_ETHERNET = 14


def records(payload: bytes) -> list[bytes] | None:
    """The DTLS 1.2 records that make up ``payload`` exactly, or None."""
    found = []
    i = 0
    while i + _RECORD_HEADER <= len(payload):
        if not 20 <= payload[i] <= 26 or payload[i + 1] != 0xFE:
            return None
        end = i + _RECORD_HEADER + int.from_bytes(payload[i + 11 : i + 13], "big")
        found.append(payload[i:end])
        i = end
    return found if i == len(payload) and found else None


def _ipv4_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f">{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def split(frame: bytes) -> list[bytes]:
    """``frame`` (Ethernet, IPv4, UDP), one frame per DTLS record of its payload."""
    ip = frame[_ETHERNET:]
    if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:  # IPv4, UDP
        return [frame]
    ihl = (ip[0] & 15) * 4
    parts = records(ip[ihl + 8 :])
    if parts is None or len(parts) == 1:
        return [frame]
    out = []
    for record in parts:
        header = bytearray(ip[:ihl])
        struct.pack_into(">H", header, 2, ihl + 8 + len(record))
        struct.pack_into(">H", header, 10, 0)
        struct.pack_into(">H", header, 10, _ipv4_checksum(bytes(header)))
        udp = ip[ihl : ihl + 4] + struct.pack(">HH", 8 + len(record), 0)
        out.append(frame[:_ETHERNET] + bytes(header) + udp + record)
    return out


def main(source: str, target: str) -> int:
    with open(source, "rb") as f, open(target, "wb") as o:
        head = f.read(24)
        if len(head) < 24 or head[:4] not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            print("split_gso_capture: not a little-endian classic pcap", file=sys.stderr)
            return 2
        if struct.unpack("<I", head[20:24])[0] != 1:
            print("split_gso_capture: not an Ethernet capture (link type 1)", file=sys.stderr)
            return 2
        o.write(head)
        n_in = n_out = 0
        while len(record := f.read(16)) == 16:
            seconds, fraction, length, _ = struct.unpack("<IIII", record)
            frame = f.read(length)
            n_in += 1
            for piece in split(frame):
                o.write(struct.pack("<IIII", seconds, fraction, len(piece), len(piece)))
                o.write(piece)
                n_out += 1
    print(f"{n_in} packets in, {n_out} out", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: split_gso_capture.py IN.pcap OUT.pcap", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(main(sys.argv[1], sys.argv[2]))
    except OSError as exc:
        print(f"split_gso_capture: {exc}", file=sys.stderr)
        sys.exit(1)
