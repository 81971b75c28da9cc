"""Messages out of a TCP (or TLS) byte stream: Content-Length framing (RFC 3261 §18.3).

On a stream the Content-Length field is mandatory (§18.3, §20.14): it is the only way to
know where a body ends. :class:`StreamFramer` buffers what :meth:`StreamFramer.feed`
gives it and returns each message once its head and body are complete. A CRLF between
messages is skipped (§7.5), so the RFC 5626 §3.5.1 keep-alive ``CRLFCRLF`` costs nothing
(:attr:`StreamFramer.crlfs` counts the CRLFs skipped; a driver answers a ping of two
with one CRLF).

Bounds: the head may not grow past ``max_header_bytes`` before its blank line arrives,
the Content-Length may not exceed ``max_body_bytes``, so the buffer never holds more
than one head and one body. After a :class:`SipParseError` the stream cannot be
re-synchronised (there is no way to find the next message's start): the framer stays
failed and every later :meth:`feed` raises the same error; close the connection.
:attr:`StreamFramer.failed_head` then holds the head of the message that failed, when it
was read whole, so a driver can answer it (a 400 before closing, RFC 3261 §21.4.1).
"""

from __future__ import annotations

from pyrtcstack.sip.errors import MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADERS, SipParseError
from pyrtcstack.sip.message import Message, build, parse_head

__all__ = ["StreamFramer"]


class StreamFramer:
    """Cut a SIP byte stream into messages (§18.3); see the module docstring."""

    __slots__ = (
        "_buffer",
        "_error",
        "_head",
        "_head_bytes",
        "_length",
        "_scan",
        "crlfs",
        "failed_head",
        "max_body_bytes",
        "max_header_bytes",
        "max_headers",
    )

    def __init__(
        self,
        *,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_headers: int = MAX_HEADERS,
    ) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.max_headers = max_headers
        self.crlfs = 0
        self._buffer = bytearray()
        self._scan = 0  # where the search for the blank line resumes
        self._head: tuple[str, str, str, list[tuple[str, str]]] | None = None
        self._length = 0
        self._error: SipParseError | None = None
        #: after a :class:`SipParseError`: the head (start line and fields) of the
        #: message that failed, if its blank line had arrived; else ``None``
        self.failed_head: bytes | None = None
        self._head_bytes: bytes | None = None

    @property
    def buffered(self) -> int:
        """Octets held for a message not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        """Add stream octets; return the messages they completed, in order."""
        if self._error is not None:
            raise self._error
        self._buffer += data
        out: list[Message] = []
        try:
            while self._step(out):
                pass
        except SipParseError as exc:
            self._error = exc
            self.failed_head = self._head_bytes
            self._head_bytes = None
            self._buffer.clear()
            raise
        return out

    def _step(self, out: list[Message]) -> bool:
        buf = self._buffer
        if self._head is None:
            # CRLFs between messages: keep-alives (RFC 5626 §3.5.1) or §7.5 padding.
            skipped = 0
            while buf[skipped : skipped + 2] == b"\r\n":
                skipped += 2
            if skipped:
                self.crlfs += skipped // 2
                del buf[:skipped]
                self._scan = 0
            end = buf.find(b"\r\n\r\n", max(0, self._scan - 3))
            if end < 0:
                if len(buf) > self.max_header_bytes:
                    raise SipParseError(f"header section over {self.max_header_bytes} bytes", 513)
                self._scan = len(buf)
                return False
            if end > self.max_header_bytes:
                raise SipParseError(f"header section over {self.max_header_bytes} bytes", 513)
            self._head_bytes = bytes(buf[: end + 4])
            kind, a, b, headers, length = parse_head(self._head_bytes[:end], self.max_headers)
            if length is None:
                raise SipParseError("no Content-Length on a stream transport (§18.3)")
            if length > self.max_body_bytes:
                raise SipParseError(f"Content-Length over {self.max_body_bytes} bytes", 513)
            del buf[: end + 4]
            self._scan = 0
            self._head = (kind, a, b, headers)
            self._length = length
        if len(buf) < self._length:
            return False
        kind, a, b, headers = self._head
        body = bytes(buf[: self._length])
        del buf[: self._length]
        self._head = None
        out.append(build(kind, a, b, headers, body))
        self._head_bytes = None
        return True
