"""Copy-paste signaling: a session description as one compact, checksummed text blob.

Two people without a signaling server can paste an offer and an answer to each other
through any chat app. A blob looks like ``RTC1o.eNpl…`` (``o`` offer, ``a`` answer,
``p`` pranswer):

* the SDP is deflated (RFC 1951 through :mod:`zlib`) with a preset dictionary of the lines
  every WebRTC description repeats (:data:`SDP_DICTIONARY`), which roughly halves the size
  again compared with plain deflate (a Chromium data channel offer: 1.3 kB → ~0.5 kB);
* a 4-byte check (the first bytes of SHA-256 over the type and SDP) follows, so a blob
  that a chat app damaged is refused with :class:`BlobError` instead of being half-applied;
* the result is base64url (RFC 4648 §5) without padding: no ``+``/``/``/``=`` for chat apps
  and URLs to mangle, and :func:`decode_blob` ignores whitespace, line breaks, quotes and
  backticks that a chat app or a Markdown code block adds around or inside it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zlib

from ..common.errors import ParseError

__all__ = [
    "BLOB_PREFIX",
    "MAX_BLOB_CHARS",
    "MAX_SDP_BYTES",
    "SDP_DICTIONARY",
    "BlobError",
    "decode_blob",
    "encode_blob",
]

BLOB_PREFIX = "RTC1"
#: Largest SDP a blob may carry (and largest inflated output accepted: a zip bomb stops here).
MAX_SDP_BYTES = 64 * 1024
#: Longest blob text accepted by :func:`decode_blob` (before removing whitespace).
MAX_BLOB_CHARS = 256 * 1024
_CHECK_BYTES = 4
_TYPES = {"offer": "o", "answer": "a", "pranswer": "p"}
_TYPE_NAMES = {v: k for k, v in _TYPES.items()}
#: Deflate's preset dictionary (RFC 1950 §2.2 FDICT): the strings WebRTC SDPs repeat, the
#: most common last (deflate prefers near matches). Changing it breaks old blobs: bump
#: :data:`BLOB_PREFIX` if you do.
SDP_DICTIONARY = (
    b"a=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 transport-cc\r\n"
    b"a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    b"a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    b"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    b"a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    b"a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:126 telephone-event/8000\r\n"
    b"m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=sendrecv\r\n"
    b"a=msid-semantic: WMS\r\na=extmap-allow-mixed\r\n"
    b" typ srflx raddr 0.0.0.0 rport 0 generation 0 network-id 1 network-cost 10\r\n"
    b" typ host tcptype active generation 0 network-id 1\r\n"
    b"a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"
    b"a=candidate:2 1 UDP 2122260223 192.168.1.2 54321 typ host generation 0\r\n"
    b"a=end-of-candidates\r\na=ice-options:trickle\r\n"
    b"a=setup:actpass\r\na=setup:active\r\na=setup:passive\r\n"
    b"a=fingerprint:sha-256 \r\n"
    b"v=0\r\no=- 0 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    b"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
    b"a=ice-ufrag:\r\na=ice-pwd:\r\na=mid:0\r\na=sctp-port:5000\r\n"
    b"a=max-message-size:262144\r\na=candidate:"
)

_STRIP = re.compile(r"[\s`'\"<>]+")
_BODY = re.compile(r"^[A-Za-z0-9_-]+$")


class BlobError(ParseError):
    """A copy-paste blob that is not ours, damaged, or too large."""


def _check(kind: str, sdp: bytes) -> bytes:
    return hashlib.sha256(kind.encode() + b"\0" + sdp).digest()[:_CHECK_BYTES]


def encode_blob(description_type: str, sdp: str) -> str:
    """``("offer", sdp)`` → ``"RTC1o.…"``; raises :class:`BlobError` for an unknown type or
    an SDP larger than :data:`MAX_SDP_BYTES`."""
    kind = _TYPES.get(description_type)
    if kind is None:
        raise BlobError(f"cannot put a {description_type!r} description in a blob")
    raw = sdp.encode("utf-8")
    if len(raw) > MAX_SDP_BYTES:
        raise BlobError(f"SDP of {len(raw)} bytes is over the {MAX_SDP_BYTES}-byte limit")
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, SDP_DICTIONARY)
    packed = packer.compress(raw) + packer.flush()
    body = base64.urlsafe_b64encode(packed + _check(kind, raw)).rstrip(b"=").decode()
    return f"{BLOB_PREFIX}{kind}.{body}"


def decode_blob(text: str) -> tuple[str, str]:
    """A blob (as pasted: whitespace, quotes and backticks anywhere are ignored) →
    ``(type, sdp)``. Raises only :class:`BlobError`."""
    if len(text) > MAX_BLOB_CHARS:
        raise BlobError(f"blob longer than {MAX_BLOB_CHARS} characters")
    compact = _STRIP.sub("", text)
    if not compact.startswith(BLOB_PREFIX) or len(compact) < len(BLOB_PREFIX) + 2:
        raise BlobError(f"not a pyrtcstack blob (it should start with {BLOB_PREFIX!r})")
    kind = compact[len(BLOB_PREFIX)]
    if kind not in _TYPE_NAMES or compact[len(BLOB_PREFIX) + 1] != ".":
        raise BlobError("unknown blob kind")
    body = compact[len(BLOB_PREFIX) + 2 :]
    if not _BODY.match(body):
        raise BlobError("the blob has characters that base64url does not use (damaged?)")
    try:
        data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        raise BlobError("the blob is not valid base64url (cut short?)") from None
    if len(data) <= _CHECK_BYTES:
        raise BlobError("the blob is too short")
    packed, check = data[:-_CHECK_BYTES], data[-_CHECK_BYTES:]
    unpacker = zlib.decompressobj(-15, SDP_DICTIONARY)
    try:
        raw = unpacker.decompress(packed, MAX_SDP_BYTES + 1)
    except zlib.error:
        raise BlobError("the blob is damaged (it does not inflate)") from None
    if len(raw) > MAX_SDP_BYTES or unpacker.unconsumed_tail:
        raise BlobError(f"the SDP inside is over the {MAX_SDP_BYTES}-byte limit")
    if not unpacker.eof or unpacker.unused_data:
        raise BlobError("the blob is damaged (its compressed stream is cut or padded)")
    if _check(kind, raw) != check:
        raise BlobError("checksum mismatch: the blob was changed on the way")
    try:
        sdp = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BlobError("the SDP inside is not UTF-8") from None
    return _TYPE_NAMES[kind], sdp
