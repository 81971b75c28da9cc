"""A tiny classic-pcap writer for captures of our own datagrams (``demo --pcap``).

Each UDP datagram is written as a raw IPv4 (or IPv6) packet, LINKTYPE_RAW (101), with a
synthesised IP and UDP header, so Wireshark/tshark decode STUN, DTLS (with the key log),
SCTP inside DTLS and SRTP exactly as on the wire. UDP checksums are 0 (allowed for IPv4,
RFC 768); IPv4 header checksums are computed.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from typing import BinaryIO

from ..common.core import Address

__all__ = ["LINKTYPE_RAW", "PcapWriter"]

#: Link type "raw IP" (tcpdump.org linktypes): the packet starts with the IP header.
LINKTYPE_RAW = 101
_SNAPLEN = 65535


def _ipv4_checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class PcapWriter:
    """Write ``(src, dst, payload)`` UDP datagrams to a pcap file."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._ident = 0
        self.packets = 0
        file.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, _SNAPLEN, LINKTYPE_RAW))

    def write(self, src: Address, dst: Address, payload: bytes, when: float | None = None) -> None:
        when = time.time() if when is None else when
        udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
        s_ip, d_ip = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
        if s_ip.version == 4 and d_ip.version == 4:
            self._ident = (self._ident + 1) & 0xFFFF
            header = struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                0,
                20 + len(udp),
                self._ident,
                0x4000,
                64,
                17,
                0,
                s_ip.packed,
                d_ip.packed,
            )
            header = header[:10] + struct.pack("!H", _ipv4_checksum(header)) + header[12:]
            packet = header + udp
        else:
            packet = (
                struct.pack("!IHBB", 6 << 28, len(udp), 17, 64)
                + ipaddress.IPv6Address(
                    s_ip.packed if s_ip.version == 6 else b"\0" * 10 + b"\xff\xff" + s_ip.packed
                ).packed
                + ipaddress.IPv6Address(
                    d_ip.packed if d_ip.version == 6 else b"\0" * 10 + b"\xff\xff" + d_ip.packed
                ).packed
                + udp
            )
        sec = int(when)
        usec = int((when - sec) * 1_000_000)
        self._file.write(struct.pack("<IIII", sec, usec, len(packet), len(packet)) + packet)
        self.packets += 1

    def close(self) -> None:
        self._file.close()
