"""Stateless answers to malformed requests (RFC 3261 §8.2.2, §8.2.6, §21.4).

A request that does not parse cannot start a transaction, but RFC 3261 asks a server to
tell the sender why when it can: §8.2.2.1 (416), §8.2.2.3 (420), §21.4.1 (400 Bad
Request, "the Reason-Phrase SHOULD identify the syntax problem in more detail"),
§21.5.7 (505). :func:`error_response` builds that answer from the request's octets with
a tolerant reading of its head, far weaker than :func:`~pyrtcstack.sip.parse_message`:
it needs only the fields every response copies (§8.2.6.2), each well-formed on its own:
the Via fields, From, To, Call-ID and CSeq. Anything less, and the request stays dropped
and counted, as before.

Never answered: a response (a response is never answered, §17), an ACK (§17.1.1.3: an
ACK gets no response), a head without its blank line, a head that is not UTF-8 where the
copied fields are, and an answer that would not itself parse (a malformed second Via).

Amplification: the answer is sent to whatever address the request claims to come from
(over UDP, a forged one), so it must not be a lever. Its header lines are the request's
own lines, copied verbatim (compact names stay compact, no comma list is split), plus a
To tag, a ``Content-Length: 0`` and a status line whose reason is cut at
:data:`MAX_REASON`; the request line and the body are not echoed. So the answer is never
longer than the request plus :data:`MAX_ERROR_GROWTH` octets (checked before it is
returned), and the caller (:class:`~pyrtcstack.sip.TransactionLayer`) also limits how
many it sends per second.
"""

from __future__ import annotations

from pyrtcstack.sip.errors import MAX_HEADER_BYTES, SipParseError
from pyrtcstack.sip.headers import CSeq, NameAddress, Via, canonical_name, check_call_id
from pyrtcstack.sip.message import parse_message

__all__ = ["MAX_ERROR_GROWTH", "MAX_REASON", "error_response"]

#: Characters of the error text kept in the reason phrase.
MAX_REASON = 96
#: An answer is at most this many octets longer than the request it answers.
MAX_ERROR_GROWTH = 200
#: §21: the reason phrase of each status this module sends.
_REASONS = {
    400: "Bad Request",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    505: "Version Not Supported",
    513: "Message Too Large",
}
_COPIED = ("via", "from", "to", "call-id", "cseq")


def _reason(status: int, error: SipParseError) -> str:
    """``Bad Request (missing Max-Forwards ...)``: the standard phrase and the detail,
    printable characters only (a reason phrase may not hold CR, LF or controls)."""
    detail = "".join(c if c.isprintable() else "?" for c in error.reason)[:MAX_REASON]
    base = _REASONS.get(status, "Bad Request")
    return f"{base} ({detail})" if detail else base


def _unfold(head: bytes) -> list[bytes] | None:
    """The head's lines with §7.3.1 folding undone, or None when it cannot be read."""
    lines: list[bytes] = []
    for line in head.split(b"\r\n"):
        if b"\r" in line or b"\n" in line:
            return None
        if line[:1] in (b" ", b"\t"):
            if not lines:
                return None
            lines[-1] = lines[-1].rstrip(b" \t") + b" " + line.lstrip(b" \t")
        else:
            lines.append(line)
    return lines


def error_response(data: bytes, error: SipParseError, to_tag: str) -> bytes | None:
    """The stateless answer to the malformed request ``data`` (see the module docstring),
    with the status of ``error`` (400 unless it says 505, 513, ...) and ``to_tag`` added
    to the To field when it has none; ``None`` when it must not or cannot be answered."""
    start = 0
    while data[start : start + 2] == b"\r\n":
        start += 2
    end = data.find(b"\r\n\r\n", start, start + MAX_HEADER_BYTES + 4)
    if end < 0:
        return None
    lines = _unfold(data[start:end])
    if not lines:
        return None
    request_line = lines[0]
    method = request_line.split(b" ", 1)[0]
    if request_line[:4].upper() == b"SIP/" or not method or method == b"ACK":
        return None  # a response, or an ACK: never answered
    copied: list[str] = []
    seen: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, _ = line.partition(b":")
        if not colon:
            continue
        key = canonical_name(name.strip(b" \t").decode("latin-1")).lower()
        if key not in _COPIED or (key != "via" and key in seen):
            continue  # §8.2.6.2 copies these; a second From/To/... is the error itself
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return None
        seen.setdefault(key, text.partition(":")[2].strip(" \t"))
        copied.append(text)
    if len(seen) != len(_COPIED):
        return None
    try:
        Via.parse(seen["via"].split(",", 1)[0])
        NameAddress.parse(seen["from"])
        to = NameAddress.parse(seen["to"])
        check_call_id(seen["call-id"])
        if CSeq.parse(seen["cseq"]).method == "ACK":
            return None
    except SipParseError:
        return None  # too broken to tell the sender anything
    if to.tag is None:  # §8.2.6.2: a UAS adds a To tag to a response without one
        for i, text in enumerate(copied):
            field = canonical_name(text.partition(":")[0].strip(" \t")).lower()
            if field == "to":
                copied[i] = text.rstrip(" \t") + f";tag={to_tag}"
                break
    status = error.status if error.status in _REASONS else 400
    head = [f"SIP/2.0 {status} {_reason(status, error)}", *copied, "Content-Length: 0"]
    out = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8")
    if len(out) > len(data) + MAX_ERROR_GROWTH:  # cannot happen: the bound, checked
        return None
    try:
        parse_message(out)  # a later Via or a To parameter may still be malformed
    except SipParseError:
        return None
    return out
