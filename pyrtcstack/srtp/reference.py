"""A small pure-Python model of SRTP, for reading and for checking vectors; the data path
uses libsrtp through :class:`~pyrtcstack.srtp.session.SrtpSession`.

It shows the three mechanisms a learner needs to see once:

* **Key derivation** (RFC 3711 §4.3.1): each session key is the AES-CM keystream of the
  master key at IV = ((label || index/kdr) XOR master salt) * 2^16. Labels 0/1/2 give
  the SRTP encryption key, authentication key and salt; 3/4/5 the SRTCP ones. A 96-bit
  AEAD master salt (RFC 7714 §11) is zero-padded on the right to 112 bits first.
* **AES counter mode with HMAC-SHA1** (RFC 3711 §4.1.1, §4.2): IV = (salt * 2^16) XOR
  (SSRC * 2^64) XOR (index * 2^16) with index = ROC * 2^16 + SEQ; the tag is the first
  10 bytes of HMAC-SHA1(auth key, packet || ROC).
* **AES-GCM** (RFC 7714 §8–9): a 12-byte IV = (00 00 || SSRC || ROC || SEQ) XOR salt, the
  RTP header as associated data, a 16-byte tag.

Only key-derivation rate 0 is modelled (WebRTC never uses another).
"""

from __future__ import annotations

import hmac
import struct
from hashlib import sha1

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "LABEL_RTCP_AUTH",
    "LABEL_RTCP_ENCRYPTION",
    "LABEL_RTCP_SALT",
    "LABEL_RTP_AUTH",
    "LABEL_RTP_ENCRYPTION",
    "LABEL_RTP_SALT",
    "aes_cm_keystream",
    "derive_key",
    "protect_rtcp_cm",
    "protect_rtcp_gcm",
    "protect_rtp_cm",
    "protect_rtp_gcm",
    "rtp_header_length",
]

# RFC 3711 §4.3.1 and §4.3.2 key derivation labels.
LABEL_RTP_ENCRYPTION = 0x00
LABEL_RTP_AUTH = 0x01
LABEL_RTP_SALT = 0x02
LABEL_RTCP_ENCRYPTION = 0x03
LABEL_RTCP_AUTH = 0x04
LABEL_RTCP_SALT = 0x05


def aes_cm_keystream(key: bytes, iv: bytes, length: int) -> bytes:
    """AES counter-mode keystream: AES(key, IV), AES(key, IV + 1), ... (RFC 3711 §4.1.1)."""
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(bytes(length)) + enc.finalize()


def derive_key(master_key: bytes, master_salt: bytes, label: int, length: int) -> bytes:
    """RFC 3711 §4.3.1 with key_derivation_rate 0 (so r = 0 and key_id = label || 0^48)."""
    salt = master_salt.ljust(14, b"\x00")  # RFC 7714 §11: 96-bit salts padded to 112 bits
    key_id = bytes((0,) * 7) + bytes((label,)) + bytes(6)  # label at byte 7 of 14
    x = bytes(a ^ b for a, b in zip(salt, key_id, strict=True))
    return aes_cm_keystream(master_key, x + b"\x00\x00", length)


def rtp_header_length(packet: bytes) -> int:
    """Length of the RTP header including CSRCs and the extension block (RFC 3550 §5)."""
    n = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        n += 4 + 4 * struct.unpack_from("!H", packet, n + 2)[0]
    return n


def _cm_iv(salt: bytes, ssrc: int, index: int) -> bytes:
    iv = int.from_bytes(salt, "big") << 16
    iv ^= ssrc << 64
    iv ^= index << 16
    return iv.to_bytes(16, "big")


def protect_rtp_cm(
    enc_key: bytes, salt: bytes, auth_key: bytes, packet: bytes, roc: int, *, tag_length: int = 10
) -> bytes:
    """SRTP AES_CM_128_HMAC_SHA1_80 (RFC 3711 §3.3, §4.1.1, §4.2)."""
    h = rtp_header_length(packet)
    seq, ssrc = struct.unpack_from("!H4xI", packet, 2)
    ks = aes_cm_keystream(enc_key, _cm_iv(salt, ssrc, (roc << 16) | seq), len(packet) - h)
    body = packet[:h] + bytes(a ^ b for a, b in zip(packet[h:], ks, strict=True))
    tag = hmac.new(auth_key, body + struct.pack("!I", roc), sha1).digest()[:tag_length]
    return body + tag


def protect_rtcp_cm(
    enc_key: bytes, salt: bytes, auth_key: bytes, packet: bytes, index: int
) -> bytes:
    """SRTCP with AES-CM and HMAC-SHA1-80 (RFC 3711 §3.4): E=1, 31-bit index, tag."""
    ssrc = struct.unpack_from("!I", packet, 4)[0]
    ks = aes_cm_keystream(enc_key, _cm_iv(salt, ssrc, index), len(packet) - 8)
    body = packet[:8] + bytes(a ^ b for a, b in zip(packet[8:], ks, strict=True))
    body += struct.pack("!I", 0x80000000 | index)
    return body + hmac.new(auth_key, body, sha1).digest()[:10]


def protect_rtp_gcm(key: bytes, salt: bytes, packet: bytes, roc: int) -> bytes:
    """SRTP AEAD_AES_*_GCM (RFC 7714 §8.1): IV from SSRC, ROC and SEQ; header as AAD."""
    h = rtp_header_length(packet)
    seq, ssrc = struct.unpack_from("!H4xI", packet, 2)
    iv = bytes(a ^ b for a, b in zip(struct.pack("!xxIIH", ssrc, roc, seq), salt, strict=True))
    return packet[:h] + AESGCM(key).encrypt(iv, packet[h:], packet[:h])


def protect_rtcp_gcm(key: bytes, salt: bytes, packet: bytes, index: int) -> bytes:
    """SRTCP AEAD_AES_*_GCM (RFC 7714 §9.1): AAD = first 8 bytes || E|index; the
    E|index word trails the ciphertext and tag."""
    ssrc = struct.unpack_from("!I", packet, 4)[0]
    iv = bytes(a ^ b for a, b in zip(struct.pack("!xxIxxI", ssrc, index), salt, strict=True))
    trailer = struct.pack("!I", 0x80000000 | index)
    return packet[:8] + AESGCM(key).encrypt(iv, packet[8:], packet[:8] + trailer) + trailer
