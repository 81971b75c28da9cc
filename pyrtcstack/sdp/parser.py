"""SDP text → :class:`SessionDescription` (RFC 8866 §5, §9 grammar).

Strict about structure, tolerant about unknown attributes:

* lines are ``<type>=<value>``; CRLF or bare LF ends a line (RFC 8866 §5 recommends
  accepting LF); a bare CR, a NUL, an unknown type letter or an out-of-order line is an
  error (§5: "a parser MUST completely ignore any session description that contains a
  type letter that it does not understand");
* order: ``v o s [i] [u] *e *p [c] *b 1*(t *r) [z] [k] *a`` then ``*(m [i] *c *b [k] *a)``;
* a known attribute (see :data:`~pyrtcstack.sdp.attributes.VALIDATORS`) whose value does
  not parse fails the description (RFC 9429 §5.8); unknown ones are kept as written;
* empty lines are only accepted at the very end (some tools add a trailing blank line).

Limits are the ``MAX_*`` constants in :mod:`pyrtcstack.sdp.errors`.
"""

from __future__ import annotations

from pyrtcstack.sdp.attributes import VALIDATORS
from pyrtcstack.sdp.errors import (
    MAX_CANDIDATES,
    MAX_FORMATS,
    MAX_LINE_LENGTH,
    MAX_LINES,
    MAX_MEDIA_SECTIONS,
    MAX_SDP_SIZE,
    ParseError,
)
from pyrtcstack.sdp.model import (
    Attribute,
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
)

__all__ = ["parse_session"]

# RFC 8866 §5 orders the lines strictly; real peers misplace c=/b= (sdp-transform puts
# the session c= after t=, Janus puts c= after a=mid). Only what carries meaning is
# enforced: v= o= s= first, a time description before any m=, r= after t=, singletons
# once, and no session-only line inside a media section. The writer restores RFC order.
_SESSION_LETTERS = frozenset("iuepcbtrzka")
_SESSION_SINGLE = frozenset("iuczk")
_MEDIA_LETTERS = frozenset("icbka")
_MEDIA_SINGLE = frozenset("ik")
_DIGITS = frozenset("0123456789")
_MAX_INT_DIGITS = 20  # sess-id/version, times: stored as Python ints, 64-bit in practice


def _int(text: str, what: str, high: int | None = None) -> int:
    if not text or len(text) > _MAX_INT_DIGITS or not _DIGITS.issuperset(text):
        raise ParseError(f"{what} is not a number: {text!r}")
    value = int(text)
    if high is not None and value > high:
        raise ParseError(f"{what} {value} out of range 0..{high}")
    return value


def _origin(value: str) -> Origin:
    parts = value.split(" ")
    if len(parts) != 6 or not all(parts):
        raise ParseError(
            "o= needs 6 fields: <username> <sess-id> <sess-version> IN <IP4|IP6> <addr>"
        )
    if parts[3] != "IN":
        raise ParseError(f"o= network type must be IN, not {parts[3]!r}")
    return Origin(
        parts[0],
        _int(parts[1], "o= sess-id"),
        _int(parts[2], "o= sess-version"),
        parts[3],
        parts[4],
        parts[5],
    )


def _connection(value: str) -> Connection:
    parts = value.split(" ")
    if len(parts) != 3 or not all(parts):
        raise ParseError("c= needs 3 fields: IN <IP4|IP6> <address>")
    if parts[0] != "IN":
        raise ParseError(f"c= network type must be IN, not {parts[0]!r}")
    return Connection(parts[0], parts[1], parts[2])


def _bandwidth(value: str) -> Bandwidth:
    bwtype, sep, amount = value.partition(":")
    if not sep or not bwtype or " " in bwtype:
        raise ParseError(f"b= needs '<type>:<value>': {value!r}")
    return Bandwidth(bwtype, _int(amount, "b= bandwidth"))


#: The attribute names of WebRTC's SDP, each kept as one string that every parsed
#: description shares: a process with a thousand peer connections holds two thousand
#: descriptions of a dozen attributes each (only known names: an unknown name from the
#: wire is not kept beyond its description).
_NAMES: dict[str, str] = {
    name: name
    for name in (
        *VALIDATORS,
        "bundle-only", "end-of-candidates", "extmap-allow-mixed", "ice-lite", "ice-options",
        "ice-pacing", "identity", "inactive", "msid-semantic", "recvonly", "rtcp-mux",
        "rtcp-mux-only", "rtcp-rsize", "sendonly", "sendrecv", "simulcast", "tls-id",
    )
}  # fmt: skip


def _timing(value: str) -> Timing:
    parts = value.split(" ")
    if len(parts) != 2:
        raise ParseError(f"t= needs '<start> <stop>': {value!r}")
    return Timing(_int(parts[0], "t= start"), _int(parts[1], "t= stop"))


def _media(value: str) -> MediaDescription:
    parts = value.split(" ")
    if len(parts) < 3 or not all(parts[:3]):
        raise ParseError("m= needs '<media> <port>[/<count>] <proto> <fmt> ...'")
    if len(parts) - 3 > MAX_FORMATS:
        raise ParseError(f"m= has more than MAX_FORMATS={MAX_FORMATS} formats")
    port_text, slash, count_text = parts[1].partition("/")
    port = _int(port_text, "m= port", 65535)
    count = _int(count_text, "m= port count", 65535) if slash else None
    formats = parts[3:]
    # RFC 8866 §5.14 requires at least one format; Edge answered rejected sections with
    # none ("m=video 0 UDP/TLS/RTP/SAVPF"), so an empty list is tolerated; an empty
    # format from a doubled space is not.
    if not all(formats):
        raise ParseError("m= format list has an empty entry (doubled space)")
    return MediaDescription(parts[0], port, parts[2], formats, count)


def _split_lines(text: str) -> list[str]:
    if len(text) > MAX_SDP_SIZE:
        raise ParseError(f"SDP larger than MAX_SDP_SIZE={MAX_SDP_SIZE} characters")
    if "\0" in text:
        raise ParseError("SDP contains a NUL character", text.count("\n", 0, text.index("\0")) + 1)
    # Whole-text checks run at C speed; the per-line loop then only classifies lines.
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if text.endswith("\r"):  # a final CRLF cut after the CR
            text = text[:-1]
        if "\r" in text:
            line = text.count("\n", 0, text.index("\r")) + 1
            raise ParseError("bare CR inside a line (only CRLF or LF end a line)", line)
    lines = text.split("\n")
    if len(lines) > MAX_LINES + 1:
        raise ParseError(f"SDP has more than MAX_LINES={MAX_LINES} lines")
    # Drop trailing empty lines (the final CRLF, and blank lines some tools append).
    while lines and not lines[-1]:
        lines.pop()
    if lines and max(map(len, lines)) > MAX_LINE_LENGTH:
        line = next(i for i, x in enumerate(lines, 1) if len(x) > MAX_LINE_LENGTH)
        raise ParseError(f"line longer than MAX_LINE_LENGTH={MAX_LINE_LENGTH}", line)
    return lines


def parse_session(text: str | bytes) -> SessionDescription:
    """Parse an SDP; see the module docstring for the rules.

    Raises :class:`~pyrtcstack.sdp.errors.ParseError` with ``line_number`` set to the
    1-based line where the problem is.
    """
    if isinstance(text, str):
        lines = _split_lines(text)
    else:
        raw = bytes(text)
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            # RFC 8866 §5: the SDP is UTF-8 text.
            line_number = raw.count(b"\n", 0, exc.start) + 1
            raise ParseError(f"SDP is not valid UTF-8 (byte {exc.start})", line_number) from None
        lines = _split_lines(decoded)
    if not lines:
        raise ParseError("empty SDP")
    desc = SessionDescription(timings=[])
    media: MediaDescription | None = None
    rank = -1
    seen: set[str] = set()
    n_candidates = 0
    validators = VALIDATORS
    number = 0
    try:
        for number, line in enumerate(lines, 1):  # noqa: B007 - used in the except clause
            if line[1:2] != "=":
                raise ParseError(f"not a '<type>=<value>' line: {line[:40]!r}")
            letter = line[0]
            value = line[2:]
            if letter == "a":
                # Hot path: the bulk of a WebRTC SDP.
                name, sep, attr_value = value.partition(":")
                if not name:
                    raise ParseError("attribute without a name")
                name = _NAMES.get(name, name)  # one string for each known name
                check = validators.get(name)
                if sep:
                    if check is not None:
                        check(attr_value)
                    attribute = Attribute(name, attr_value)
                else:
                    if check is not None:
                        raise ParseError(f"a={name} needs a value")
                    attribute = Attribute(name)
                if media is None:
                    if rank < 2:
                        raise ParseError("a= line before the v= o= s= lines")
                    desc.attributes.append(attribute)
                else:
                    if name == "candidate":
                        n_candidates += 1
                        if n_candidates > MAX_CANDIDATES:
                            raise ParseError(
                                f"more than MAX_CANDIDATES={MAX_CANDIDATES} in one section"
                            )
                    media.attributes.append(attribute)
                continue
            if letter == "m":
                if rank < 9:
                    raise ParseError("m= line before the session's t= line")
                if len(desc.media) >= MAX_MEDIA_SECTIONS:
                    raise ParseError(f"more than MAX_MEDIA_SECTIONS={MAX_MEDIA_SECTIONS}")
                media = _media(value)
                desc.media.append(media)
                seen = set()
                n_candidates = 0
                continue
            if media is None:
                if rank < 2:
                    expected = "vos"[rank + 1]
                    if letter != expected:
                        raise ParseError(f"expected the {expected}= line here (RFC 8866 §5)")
                    rank += 1
                elif letter not in _SESSION_LETTERS:
                    raise ParseError(f"unknown or misplaced line type {letter!r}")
                elif letter in _SESSION_SINGLE and letter in seen:
                    raise ParseError(f"more than one session-level {letter}= line")
                elif letter == "r" and rank < 9:
                    raise ParseError("r= line without a t= line before it")
                elif letter == "t":
                    rank = 9
                seen.add(letter)
                _session_line(desc, letter, value)
            else:
                if letter not in _MEDIA_LETTERS:
                    raise ParseError(f"line type {letter!r} not allowed in a media section")
                if letter in _MEDIA_SINGLE and letter in seen:
                    raise ParseError(f"more than one {letter}= line in a media section")
                seen.add(letter)
                _media_line(media, letter, value)
        if rank < 9:
            number = len(lines)
            raise ParseError("SDP ends before its t= line (v=, o=, s=, t= are required)")
    except ParseError as exc:
        if exc.line_number is None:
            raise ParseError(exc.reason, number or None) from None
        raise
    return desc


def _session_line(desc: SessionDescription, letter: str, value: str) -> None:
    if letter == "v":
        if value != "0":
            raise ParseError(f"unsupported SDP version {value!r} (only v=0)")
    elif letter == "o":
        desc.origin = _origin(value)
    elif letter == "s":
        desc.session_name = value
    elif letter == "i":
        desc.information = value
    elif letter == "u":
        desc.uri = value
    elif letter == "e":
        desc.emails.append(value)
    elif letter == "p":
        desc.phones.append(value)
    elif letter == "c":
        desc.connection = _connection(value)
    elif letter == "b":
        desc.bandwidths.append(_bandwidth(value))
    elif letter == "t":
        desc.timings.append(_timing(value))
    elif letter == "r":
        if not value.strip():
            raise ParseError("empty r= line")
        desc.timings[-1].repeats.append(value)
    elif letter == "z":
        if not value.strip():
            raise ParseError("empty z= line")
        desc.time_zones = value
    elif letter == "k":
        desc.key = value


def _media_line(media: MediaDescription, letter: str, value: str) -> None:
    if letter == "i":
        media.information = value
    elif letter == "c":
        media.connections.append(_connection(value))
    elif letter == "b":
        media.bandwidths.append(_bandwidth(value))
    elif letter == "k":
        media.key = value
