"""ICE candidates in SDP: the ``a=candidate`` grammar of RFC 8839 §5.1.

::

    candidate-attribute = "candidate" ":" foundation SP component-id SP
                          transport SP priority SP connection-address SP port
                          SP cand-type [SP rel-addr] [SP rel-port] *(SP cand-extension)
    foundation  = 1*32ice-char              ; ice-char = ALPHA / DIGIT / "+" / "/"
    component-id = 1*3DIGIT                 ; 1..256 (RFC 8445 §5.1.2.1)
    priority    = 1*10DIGIT                 ; 1..2**31-1 (RFC 8445 §5.1.2)
    cand-type   = "typ" SP ("host" / "srflx" / "prflx" / "relay" / token)
    rel-addr    = "raddr" SP connection-address
    rel-port    = "rport" SP port
    cand-extension = extension-att-name SP extension-att-value

``tcptype`` (RFC 6544 §4.5) is an extension that gets its own field; every other extension
(``generation``, ``ufrag``, ``network-id``, ``network-cost``...) is kept in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyrtcstack.sdp.errors import ParseError

__all__ = ["CANDIDATE_TYPES", "Candidate"]

#: The candidate types RFC 8839 §5.1 names; others are kept as written.
CANDIDATE_TYPES = frozenset({"host", "srflx", "prflx", "relay"})

_ICE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_MAX_PRIORITY = (1 << 31) - 1


def _int(text: str, what: str, low: int, high: int, max_digits: int) -> int:
    if not (0 < len(text) <= max_digits and text.isascii() and text.isdigit()):
        raise ParseError(f"candidate {what} is not a number of 1-{max_digits} digits: {text!r}")
    value = int(text)
    if not low <= value <= high:
        raise ParseError(f"candidate {what} {value} out of range {low}..{high}")
    return value


@dataclass(slots=True)
class Candidate:
    """One ICE candidate as carried in SDP (RFC 8839 §5.1) or trickled (RFC 8840)."""

    foundation: str
    component: int
    transport: str  #: as written, e.g. "udp" / "UDP" / "tcp"
    priority: int
    address: str  #: IPv4, IPv6, or an FQDN such as an mDNS "<uuid>.local" name
    port: int
    type: str  #: host | srflx | prflx | relay (others kept as written)
    related_address: str | None = None
    related_port: int | None = None
    tcptype: str | None = None  #: active | passive | so (RFC 6544 §4.5)
    extensions: list[tuple[str, str]] = field(default_factory=list)
    # Where ``tcptype`` stood among the extensions, so that writing is an exact round trip
    # for peers that do not put it first. Not part of equality.
    _tcptype_index: int = field(default=0, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Candidate:
        """Parse ``a=candidate:...``, ``candidate:...`` or the bare attribute value.

        Raises :class:`pyrtcstack.sdp.ParseError` (without a line number) when malformed.
        """
        value = text.strip()
        if value.startswith("a="):
            value = value[2:]
        if value.startswith("candidate:"):
            value = value[10:]
        parts = value.split()
        if len(parts) < 8:
            raise ParseError(f"candidate needs at least 8 fields, got {len(parts)}: {text!r}")
        foundation = parts[0]
        if not (0 < len(foundation) <= 32 and _ICE_CHARS.issuperset(foundation)):
            raise ParseError(f"candidate foundation must be 1-32 ice-chars: {foundation!r}")
        component = _int(parts[1], "component-id", 1, 256, 3)
        transport = parts[2]
        priority = _int(parts[3], "priority", 1, _MAX_PRIORITY, 10)
        address = parts[4]
        port = _int(parts[5], "port", 0, 65535, 5)
        if parts[6] != "typ":
            raise ParseError(f"candidate expects 'typ' before the type, got {parts[6]!r}")
        ctype = parts[7]
        candidate = cls(foundation, component, transport, priority, address, port, ctype)
        i = 8
        n = len(parts)
        if i + 1 < n and parts[i] == "raddr":
            candidate.related_address = parts[i + 1]
            i += 2
        if i + 1 < n and parts[i] == "rport":
            candidate.related_port = _int(parts[i + 1], "rport", 0, 65535, 5)
            i += 2
        if (n - i) % 2:
            raise ParseError(f"candidate extension {parts[-1]!r} has no value")
        extensions = candidate.extensions
        while i < n:
            name, ext_value = parts[i], parts[i + 1]
            if name == "tcptype" and candidate.tcptype is None:
                candidate.tcptype = ext_value
                candidate._tcptype_index = len(extensions)
            else:
                extensions.append((name, ext_value))
            i += 2
        return candidate

    def __str__(self) -> str:
        """``candidate:<value>`` (no ``a=``), an exact round trip of well-formed input."""
        out = [
            f"candidate:{self.foundation} {self.component} {self.transport} {self.priority} "
            f"{self.address} {self.port} typ {self.type}"
        ]
        if self.related_address is not None:
            out.append(f"raddr {self.related_address}")
        if self.related_port is not None:
            out.append(f"rport {self.related_port}")
        extensions = [f"{name} {value}" for name, value in self.extensions]
        if self.tcptype is not None:
            index = min(self._tcptype_index, len(extensions))
            extensions.insert(index, f"tcptype {self.tcptype}")
        out.extend(extensions)
        return " ".join(out)

    @property
    def value(self) -> str:
        """The attribute value, i.e. :meth:`__str__` without the ``candidate:`` prefix."""
        return str(self)[10:]

    def extension(self, name: str) -> str | None:
        """The first value of extension ``name`` (e.g. ``"ufrag"``, ``"generation"``)."""
        for key, value in self.extensions:
            if key == name:
                return value
        return None
