"""One line per DTLS datagram, for people reading a trace (``pyrtcstack demo --trace``).

A datagram holds one or more records (RFC 6347 §4.1, RFC 9147 §4). :func:`describe` names
each: the handshake message of a plaintext handshake record (RFC 6347 §4.2.2), an alert
that is still in clear, or what can be said of an encrypted record without its keys.
:func:`alert_name` gives an alert's name as the RFCs spell it. Best effort: the functions
never raise, whatever the bytes.
"""

from __future__ import annotations

from .constants import AlertDescription, AlertLevel, ContentType, HandshakeType

__all__ = ["alert_name", "describe", "only_application_data"]

#: DTLSPlaintext header: type, version, epoch, 48-bit sequence number, length (RFC 6347 §4.1).
_PLAIN_HEADER = 13
#: DTLS 1.3 handshake types that DTLS 1.2 does not have (RFC 8446 §4, RFC 9147 §5).
_HANDSHAKE13 = {4: "NewSessionTicket", 8: "EncryptedExtensions", 24: "KeyUpdate"}
#: RFC 9147 §7: the ACK content type of DTLS 1.3.
_ACK = 26


def _camel(name: str) -> str:
    """``CLIENT_HELLO`` → ``ClientHello``, the name of the message's struct in the RFC."""
    return "".join(word.capitalize() for word in name.split("_"))


def alert_name(description: int) -> str:
    """The RFC's name of an alert description (``close_notify``), or its number (RFC 5246
    §7.2, RFC 8446 §6)."""
    if description in AlertDescription._value2member_map_:
        return AlertDescription(description).name.lower()
    return f"alert {description}"


def _handshake(body: bytes) -> str:
    """A plaintext handshake record: its first message (RFC 6347 §4.2.2 header: type,
    length, message_seq, fragment_offset, fragment_length)."""
    if len(body) < 12:
        return "Handshake (truncated)"
    kind = body[0]
    if kind in HandshakeType._value2member_map_:
        name = _camel(HandshakeType(kind).name)
    else:
        name = _HANDSHAKE13.get(kind, f"handshake {kind}")
    total = int.from_bytes(body[1:4], "big")
    fragment_length = int.from_bytes(body[9:12], "big")
    return name if fragment_length == total else name + " (fragment)"


def _plain(ctype: int, epoch: int, body: bytes) -> str:
    if ctype == ContentType.HANDSHAKE and epoch == 0:
        return _handshake(body)
    if ctype == ContentType.HANDSHAKE:
        return f"encrypted Handshake (Finished), epoch {epoch}"
    if ctype == ContentType.APPLICATION_DATA:
        return f"ApplicationData {len(body)} B"
    if ctype == ContentType.ALERT and epoch == 0 and len(body) == 2:
        level = AlertLevel(body[0]).name.lower() if body[0] in (1, 2) else f"level {body[0]}"
        return f"Alert {level} {alert_name(body[1])} (RFC 5246 §7.2)"
    if ctype == ContentType.ALERT:
        # Encrypted: the name is inside. The tracer notes which alert was sent or received.
        return f"Alert (encrypted, epoch {epoch})"
    if ctype == ContentType.CHANGE_CIPHER_SPEC:
        return "ChangeCipherSpec"
    if ctype == _ACK:
        return "ACK (RFC 9147 §7)"
    return f"type {ctype}"


def describe(datagram: bytes) -> str:
    """The records of a DTLS datagram, e.g. ``DTLS ServerHello, Certificate,
    ServerKeyExchange, CertificateRequest, ServerHelloDone``."""
    out: list[str] = []
    pos = 0
    end = len(datagram)
    while pos < end:
        first = datagram[pos]
        if first & 0xE0 == 0x20:
            # RFC 9147 §4: the DTLS 1.3 unified header 001CSLEE. Content type and the
            # sequence number are encrypted; only the low two epoch bits are in clear.
            header = 1 + (2 if first & 0x08 else 1) + (2 if first & 0x04 else 0)
            if first & 0x10 or end - pos < header:
                break  # a connection ID (never negotiated here) or a truncated header
            if first & 0x04:
                length = int.from_bytes(datagram[pos + header - 2 : pos + header], "big")
            else:
                length = end - pos - header  # no length field: the rest of the datagram
            out.append(f"encrypted record {length} B, epoch ≡ {first & 0x03} mod 4 (RFC 9147 §4)")
            pos += header + length
            continue
        if end - pos < _PLAIN_HEADER:
            break
        epoch = int.from_bytes(datagram[pos + 3 : pos + 5], "big")
        length = int.from_bytes(datagram[pos + 11 : pos + 13], "big")
        body = datagram[pos + _PLAIN_HEADER : pos + _PLAIN_HEADER + length]
        out.append(_plain(first, epoch, body))
        pos += _PLAIN_HEADER + length
    return "DTLS " + (", ".join(out) if out else "(malformed)")


def only_application_data(datagram: bytes, *, established: bool) -> bool:
    """Whether a datagram carries application data and nothing else, so a trace can leave
    it to the line that describes what is inside (SCTP). DTLS 1.2 names the content type
    of each record (RFC 6347 §4.1: 23); DTLS 1.3 encrypts it (RFC 9147 §4), so once the
    handshake is ``established`` an encrypted record is taken as application data."""
    if not datagram:
        return False
    first = datagram[0]
    if first == ContentType.APPLICATION_DATA:
        return True
    return established and first & 0xE0 == 0x20
