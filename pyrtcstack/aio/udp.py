"""A UDP socket read and written in batches, with Linux UDP segmentation offload.

asyncio's datagram transport hands a protocol one datagram per loop iteration and one
``sendto`` per datagram. A data channel moving tens of megabytes per second sends and
receives tens of thousands of datagrams per second, and each system call costs several
microseconds — as much as sealing the record. :class:`UdpSocket` instead:

* reads until the socket is empty (at most ``max_batch`` datagrams) and hands the whole
  burst to one callback, so the cores above process it in one drain;
* on Linux, asks for **UDP GRO** (``UDP_GRO``, Linux 5.0+): the kernel may then deliver
  several datagrams of one flow in one read, with their segment size in a control
  message; they are split again here, so the layers above still see datagrams;
* sends a run of equal-sized datagrams to one address with **UDP GSO** (``UDP_SEGMENT``,
  Linux 4.18+): one ``sendmsg`` carries up to :data:`MAX_SEGMENTS` datagrams (the last may
  be shorter) and the kernel cuts them apart. What leaves on the wire is exactly the same
  datagrams as with one ``sendto`` each: a receiver without GRO gets them one by one.

Where the kernel or platform lacks either, the socket falls back to plain ``recvfrom`` /
``sendto`` by itself (the first refusal switches the offload off for this socket).
Nothing here changes which bytes are sent: the offload is a system-call optimisation.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
import sys
from collections.abc import Callable
from itertools import chain, compress, islice
from operator import ne

from ..common.core import Address

__all__ = [
    "MAX_GSO_BYTES",
    "MAX_SEGMENTS",
    "UDP_GRO",
    "UDP_SEGMENT",
    "UdpSocket",
    "bind_udp",
    "request_buffers",
]

#: ``setsockopt``/control-message numbers from ``linux/udp.h`` (not exported by Python).
UDP_SEGMENT = 103
UDP_GRO = 104
#: The kernel's limit on segments per GSO send (``UDP_MAX_SEGMENTS``).
MAX_SEGMENTS = 64
#: Bytes of payload per GSO send: under the 65,507-byte UDP datagram limit.
MAX_GSO_BYTES = 65000
#: One read: a GRO read may hold up to 64 KiB of coalesced datagrams.
READ_SIZE = 65535

_GSO_SIZE = struct.Struct("=H")  # the UDP_SEGMENT control message: a u16 segment size
_GRO_SIZE = struct.Struct("=i")  # the UDP_GRO control message: an int segment size
_GRO_CMSG_SPACE = socket.CMSG_SPACE(_GRO_SIZE.size) if hasattr(socket, "CMSG_SPACE") else 0
_SOL_UDP = getattr(socket, "SOL_UDP", 17)

#: errno values meaning "this kernel/device cannot do GSO here": fall back to sendto.
_GSO_REFUSED = frozenset(
    {errno.EINVAL, errno.EIO, errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EMSGSIZE}
)

Batch = list[tuple[bytes, Address]]


def request_buffers(raw: socket.socket, size: int) -> tuple[int, int]:
    """Ask for ``size``-byte receive and send buffers (``SO_RCVBUF``/``SO_SNDBUF``, best
    effort) and return the sizes granted, as asked-for bytes. Linux silently caps a request
    at ``net.core.rmem_max`` / ``wmem_max`` (212,992 on a default Debian) and reports
    twice the value it kept (socket(7): the doubling is its bookkeeping), halved here.
    A buffer is a cap, not an allocation: the kernel charges memory as datagrams wait."""
    granted = []
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            raw.setsockopt(socket.SOL_SOCKET, opt, size)
        try:
            got = raw.getsockopt(socket.SOL_SOCKET, opt)
        except OSError:
            got = 0
        granted.append(got // 2 if sys.platform.startswith("linux") else got)
    return granted[0], granted[1]


def bind_udp(ip: str, configure: Callable[[socket.socket], None] | None = None) -> socket.socket:
    """A non-blocking UDP socket bound to ``(ip, 0)`` (IPv6 when ``ip`` has a colon);
    ``configure`` (e.g. buffer sizes) runs before the bind. Closed again on an OSError."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_DGRAM)
    try:
        raw.setblocking(False)
        if configure is not None:
            configure(raw)
        raw.bind((ip, 0))
    except OSError:
        raw.close()
        raise
    return raw


class UdpSocket:
    """One non-blocking UDP socket registered with the event loop's reader.

    ``on_batch(batch, local)`` receives every burst read: a list of ``(datagram,
    (host, port))`` and this socket's local address. Counters: ``send_drops`` (the socket
    buffer was full — for the protocols above, a loss on the path), ``socket_errors``
    (ICMP errors and the like), ``gso_sends`` / ``gro_reads`` (offloaded calls made)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        on_batch: Callable[[Batch, Address], None],
        *,
        max_batch: int = 64,
        offload: bool = True,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.on_batch = on_batch
        self.max_batch = max_batch
        host, port = sock.getsockname()[:2]
        self.local: Address = (str(host), int(port))
        self.closed = False
        self.send_drops = 0
        self.socket_errors = 0
        self.gso_sends = 0
        self.gro_reads = 0
        self.gso = offload and hasattr(sock, "sendmsg") and _GRO_CMSG_SPACE > 0
        self.gro = False
        if offload and _GRO_CMSG_SPACE > 0:
            with contextlib.suppress(OSError):
                sock.setsockopt(_SOL_UDP, UDP_GRO, 1)
                self.gro = True
        loop.add_reader(sock.fileno(), self._readable)

    # ---- receiving -----------------------------------------------------------------------------

    def _readable(self) -> None:
        batch: Batch = []
        limit = self.max_batch
        if self.gro:
            recvmsg = self.sock.recvmsg
            while len(batch) < limit:
                try:
                    data, ancdata, _flags, addr = recvmsg(READ_SIZE, _GRO_CMSG_SPACE)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # ICMP errors (port unreachable...) surface here
                    self.socket_errors += 1
                    break
                source: Address = addr if len(addr) == 2 else (addr[0], addr[1])
                size = 0
                for level, kind, value in ancdata:
                    if level == _SOL_UDP and kind == UDP_GRO and len(value) >= _GRO_SIZE.size:
                        size = _GRO_SIZE.unpack_from(value)[0]
                if 0 < size < len(data):
                    self.gro_reads += 1
                    batch.extend((data[i : i + size], source) for i in range(0, len(data), size))
                else:
                    batch.append((data, source))
        else:
            recv = self.sock.recvfrom
            for _ in range(limit):
                try:
                    data, addr = recv(READ_SIZE)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    self.socket_errors += 1
                    break
                # IPv4 gives (host, port) already; IPv6's (host, port, flow, scope) is cut
                batch.append((data, addr if len(addr) == 2 else (addr[0], addr[1])))
        if batch:
            self.on_batch(batch, self.local)

    # ---- sending -------------------------------------------------------------------------------

    def sendto(self, data: bytes, addr: Address) -> None:
        try:
            self.sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self.send_drops += 1  # socket buffer full: like a loss on the path
        except OSError:
            self.socket_errors += 1

    def send_many(self, datagrams: list[bytes], addr: Address) -> None:
        """Send ``datagrams`` to ``addr`` in order, as few system calls as the offload
        allows: each run of equal-sized datagrams (plus one shorter tail) is one GSO send."""
        count = len(datagrams)
        if not self.gso or count < 2:
            for data in datagrams:
                self.sendto(data, addr)
            return
        sizes = list(map(len, datagrams))
        # Where the size changes, found in C (a transfer's burst is a few runs of one
        # size: full packets, a shorter last fragment, SACKs): a Python step per run and
        # per send, none per datagram.
        changes = compress(range(1, count), map(ne, sizes, islice(sizes, 1, None)))
        i = 0  # the next datagram to send
        for end in chain(changes, (count,)):  # the run of one size ends before ``end``
            if i >= end:
                continue  # its one datagram left as the tail of the run before
            size = sizes[i]
            per_send = min(MAX_SEGMENTS, MAX_GSO_BYTES // size) if size else 1
            while i < end:
                stop = min(i + per_send, end)
                if (
                    stop == end < count
                    and 0 < sizes[end] < size  # (an empty one cannot be a segment)
                    and stop - i < MAX_SEGMENTS
                    and (stop - i) * size + sizes[end] <= MAX_GSO_BYTES
                ):
                    stop += 1  # a shorter datagram may end a GSO send (its last segment)
                self._send_run(datagrams[i:stop], size, addr)
                i = stop

    def _send_run(self, run: list[bytes], size: int, addr: Address) -> None:
        if len(run) == 1 or not self.gso:
            for data in run:
                self.sendto(data, addr)
            return
        try:
            self.sock.sendmsg(
                [b"".join(run)], [(_SOL_UDP, UDP_SEGMENT, _GSO_SIZE.pack(size))], 0, addr
            )
            self.gso_sends += 1
        except (BlockingIOError, InterruptedError):
            self.send_drops += len(run)
        except OSError as exc:
            if exc.errno not in _GSO_REFUSED:
                self.socket_errors += 1
                return
            self.gso = False  # this kernel/route cannot segment: plain sends from now on
            for data in run:
                self.sendto(data, addr)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
