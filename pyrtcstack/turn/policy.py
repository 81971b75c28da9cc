"""Which peers a TURN server relays to, and how fast (the server's abuse limits).

A TURN relay sends UDP datagrams, from the server's own host, to any address a client
names. Without a policy a client can reach services that listen only on the server's
loopback or internal network (the class of coturn's CVE-2020-26262), the cloud metadata
service at 169.254.169.254, multicast groups, or the TURN server's own listening sockets.
RFC 8656 §10.2 and §12.2 let the server refuse such a peer with **403 Forbidden**;
§11.2 lets it discard a Send indication it will not relay.

:class:`PeerPolicy` decides, by the peer's IP (permissions are per IP, RFC 8656 §9):

=================  ==========================================  ==================
reason             ranges                                      default
=================  ==========================================  ==================
``unspecified``    0.0.0.0/8, ::/128                           denied
``loopback``       127.0.0.0/8, ::1/128                        denied (``allow_loopback``)
``link-local``     169.254.0.0/16 (metadata), fe80::/10        denied
``multicast``      224.0.0.0/4, ff00::/8                       denied
``broadcast``      240.0.0.0/4 (incl. 255.255.255.255)         denied
``private``        10/8, 172.16/12, 192.168/16, 100.64/10,     denied (``allow_private``)
                   fc00::/7, fec0::/10
``denied-range``   ``denied`` (operator's list)                denied
=================  ==========================================  ==================

``allowed`` ranges override every class above (as coturn's ``allowed-peer-ip`` overrides
``denied-peer-ip``). IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible (``::a.b.c.d``) and
NAT64 (``64:ff9b::a.b.c.d``) IPv6 addresses are judged by the IPv4 address they carry, so
``::ffff:127.0.0.1`` is loopback. A ``handler(client, peer_ip) -> bool`` (Pion's
``PermissionHandler``) is asked last and can only refuse more. The server's own listening
transport addresses are refused by the server core itself (by address and port).

:class:`TokenBucket` is the per-allocation byte rate limit (``max_bps``, as coturn's).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..common.core import Address

__all__ = [
    "DENIED_CLASSES",
    "PRIVATE_RANGES",
    "PeerPolicy",
    "TokenBucket",
    "parse_ip_range",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


def _nets(*texts: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t) for t in texts)


#: Always-internal classes, denied unless ``allowed`` names them (loopback: unless
#: ``allow_loopback``).
DENIED_CLASSES: tuple[tuple[str, tuple[Network, ...]], ...] = (
    ("unspecified", _nets("0.0.0.0/8", "::/128")),
    ("loopback", _nets("127.0.0.0/8", "::1/128")),
    ("link-local", _nets("169.254.0.0/16", "fe80::/10")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    ("broadcast", _nets("240.0.0.0/4")),
)
#: RFC 1918, RFC 6598 (carrier-grade NAT, also cloud-internal), RFC 4193 ULA and the
#: deprecated site-local: denied unless ``allow_private``.
PRIVATE_RANGES: tuple[Network, ...] = _nets(
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fec0::/10"
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def parse_ip_range(text: str) -> list[Network]:
    """``"10.0.0.0/8"``, ``"192.0.2.7"`` or coturn's ``"192.0.2.1-192.0.2.9"`` as networks;
    raises :class:`ValueError` for anything else."""
    text = text.strip()
    if "-" in text:
        first, _, last = text.partition("-")
        lo, hi = ipaddress.ip_address(first.strip()), ipaddress.ip_address(last.strip())
        if lo.version != hi.version or int(lo) > int(hi):
            raise ValueError(f"bad IP range {text!r}")
        nets = ipaddress.summarize_address_range(lo, hi)
        return list(nets)
    return [ipaddress.ip_network(text, strict=False)]


def _embedded_v4(ip: IpAddr) -> IpAddr:
    """The IPv4 address an IPv4-mapped, -compatible or NAT64 IPv6 address carries."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        packed = int(ip)
        if packed >> 32 == 0 and packed > 1:  # ::a.b.c.d (RFC 4291 §2.5.5.1, deprecated)
            return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
        if ip in _NAT64:
            return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return ip


@dataclass
class PeerPolicy:
    """The peer address policy of a TURN server (see the module docstring).

    ``check(client, ip)`` returns None when ``ip`` may be a peer, else the reason string.
    """

    allow_loopback: bool = False
    allow_private: bool = False
    denied: list[Network] = field(default_factory=list)
    allowed: list[Network] = field(default_factory=list)
    handler: Callable[[Address, str], bool] | None = None

    @classmethod
    def from_ranges(
        cls,
        *,
        allow_loopback: bool = False,
        allow_private: bool = False,
        denied: Iterable[str] = (),
        allowed: Iterable[str] = (),
        handler: Callable[[Address, str], bool] | None = None,
    ) -> PeerPolicy:
        """A policy from range strings (CIDR, single IP or ``first-last``)."""
        return cls(
            allow_loopback,
            allow_private,
            [n for t in denied for n in parse_ip_range(t)],
            [n for t in allowed for n in parse_ip_range(t)],
            handler,
        )

    def classify(self, ip: str) -> str | None:
        """The built-in reason ``ip`` is refused (handler not asked), or None."""
        try:
            addr = ipaddress.ip_address(ip.partition("%")[0])
        except ValueError:
            return "invalid"
        inner = _embedded_v4(addr)
        candidates = (addr,) if inner is addr else (addr, inner)
        if any(a in net for a in candidates for net in self.allowed):
            return None
        for reason, nets in DENIED_CLASSES:
            if reason == "loopback" and self.allow_loopback:
                continue
            if any(a in net for a in candidates for net in nets):
                return reason
        if not self.allow_private and any(a in n for a in candidates for n in PRIVATE_RANGES):
            return "private"
        if any(a in net for a in candidates for net in self.denied):
            return "denied-range"
        return None

    def check(self, client: Address, ip: str) -> str | None:
        """None if ``client`` may relay to ``ip``, else the reason it may not."""
        reason = self.classify(ip)
        if reason is None and self.handler is not None and not self.handler(client, ip):
            return "handler"
        return reason


class TokenBucket:
    """``rate`` bytes per second with a burst of one second, refilled from the ``now`` the
    caller passes (the core's clock, never the system's). A datagram passes while the
    bucket is not empty and may take it below zero, so a datagram larger than the burst
    is not refused for ever; the debt is repaid before the next one passes."""

    __slots__ = ("rate", "stamp", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = float(rate)
        self.tokens = self.rate
        self.stamp = now

    def take(self, size: int, now: float) -> bool:
        """Spend ``size`` bytes; False (drop it) when the bucket is empty."""
        if now > self.stamp:
            self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        if self.tokens <= 0:
            return False
        self.tokens -= size
        return True
