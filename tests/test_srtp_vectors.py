"""SRTP/SRTCP against the shared corpus vectors.

* libsrtp full-packet vectors (AES-CM-128-HMAC-SHA1-80 and AES-128-GCM): our
  :class:`SrtpSession` (libsrtp underneath) gives the recorded bytes both ways.
* RFC 3711 B.2 keystream, B.3 key derivation, RFC 6188 AES-256 and RFC 7714 GCM vectors
  give *session* keys or keystream blocks that libsrtp does not expose; they are checked
  against :mod:`pyrtcstack.srtp.reference`, and the reference is tied to libsrtp by the
  cross-checks in test_srtp_session.py (same bytes for random packets and keys).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from peers import CORPUS, corpus, data

from pyrtcstack.srtp import (
    SRTP_AEAD_AES_128_GCM,
    SRTP_AES128_CM_HMAC_SHA1_80,
    SrtpSession,
    split_keying_material,
)
from pyrtcstack.srtp.reference import (
    LABEL_RTCP_AUTH,
    LABEL_RTCP_ENCRYPTION,
    LABEL_RTCP_SALT,
    LABEL_RTP_AUTH,
    LABEL_RTP_ENCRYPTION,
    LABEL_RTP_SALT,
    aes_cm_keystream,
    derive_key,
    protect_rtcp_cm,
    protect_rtcp_gcm,
    protect_rtp_cm,
    protect_rtp_gcm,
)


def _vectors() -> dict[str, Any]:
    """The RFC vectors (tests/data/rfc), plus libsrtp's full packets from the shared corpus
    when it is there (the tests that need those are marked ``corpus``)."""
    vectors = dict(json.loads(data("rfc", "srtp-rfc-vectors.json").read_text())["vectors"])
    if CORPUS.is_dir():
        vectors.update(json.loads(corpus("srtp", "srtp-vectors.json").read_text())["vectors"])
    return vectors


def h(s: str) -> bytes:
    return bytes.fromhex(s)


@pytest.mark.corpus
def test_libsrtp_cm_hmac_sha1_80_full_packets() -> None:
    v = _vectors()["libsrtp_aes_cm_128_hmac_sha1_80"]
    key = h(v["master_key"] + v["master_salt"])
    tx = SrtpSession(SRTP_AES128_CM_HMAC_SHA1_80, key, key)
    assert tx.protect_rtp(h(v["srtp"]["plaintext"])) == h(v["srtp"]["protected"])
    assert tx.protect_rtcp(h(v["srtcp"]["plaintext"])) == h(v["srtcp"]["protected"])
    rx = SrtpSession(SRTP_AES128_CM_HMAC_SHA1_80, key, key)
    assert rx.unprotect_rtp(h(v["srtp"]["protected"])) == h(v["srtp"]["plaintext"])
    assert rx.unprotect_rtcp(h(v["srtcp"]["protected"])) == h(v["srtcp"]["plaintext"])
    assert (rx.stats.rtp_unprotected, rx.stats.rtcp_unprotected) == (1, 1)


@pytest.mark.corpus
def test_libsrtp_aead_aes_128_gcm_full_packets() -> None:
    v = _vectors()["libsrtp_aead_aes_128_gcm"]
    key = h(v["master_key"] + v["master_salt_96bit"])
    tx = SrtpSession(SRTP_AEAD_AES_128_GCM, key, key)
    assert tx.protect_rtp(h(v["srtp"]["plaintext"])) == h(v["srtp"]["protected"])
    assert tx.protect_rtcp(h(v["srtcp"]["plaintext"])) == h(v["srtcp"]["protected"])
    rx = SrtpSession(SRTP_AEAD_AES_128_GCM, key, key)
    assert rx.unprotect_rtp(h(v["srtp"]["protected"])) == h(v["srtp"]["plaintext"])
    assert rx.unprotect_rtcp(h(v["srtcp"]["protected"])) == h(v["srtcp"]["plaintext"])


@pytest.mark.corpus
def test_reference_matches_libsrtp_vectors() -> None:
    v = _vectors()["libsrtp_aes_cm_128_hmac_sha1_80"]
    mk, ms = h(v["master_key"]), h(v["master_salt"])
    d = v["derived_session_keys"]
    labels = {
        "srtp_enc": (LABEL_RTP_ENCRYPTION, 16),
        "srtp_auth": (LABEL_RTP_AUTH, 20),
        "srtp_salt": (LABEL_RTP_SALT, 14),
        "srtcp_enc": (LABEL_RTCP_ENCRYPTION, 16),
        "srtcp_auth": (LABEL_RTCP_AUTH, 20),
        "srtcp_salt": (LABEL_RTCP_SALT, 14),
    }
    keys = {name: derive_key(mk, ms, label, n) for name, (label, n) in labels.items()}
    assert {k: x.hex() for k, x in keys.items()} == d
    assert protect_rtp_cm(
        keys["srtp_enc"], keys["srtp_salt"], keys["srtp_auth"], h(v["srtp"]["plaintext"]), 0
    ) == h(v["srtp"]["protected"])
    assert protect_rtcp_cm(
        keys["srtcp_enc"], keys["srtcp_salt"], keys["srtcp_auth"], h(v["srtcp"]["plaintext"]), 1
    ) == h(v["srtcp"]["protected"])
    g = _vectors()["libsrtp_aead_aes_128_gcm"]
    mk, ms = h(g["master_key"]), h(g["master_salt_96bit"])
    k, s = derive_key(mk, ms, LABEL_RTP_ENCRYPTION, 16), derive_key(mk, ms, LABEL_RTP_SALT, 12)
    assert (k.hex(), s.hex()) == (g["derived"]["srtp_key"], g["derived"]["srtp_salt"])
    assert protect_rtp_gcm(k, s, h(g["srtp"]["plaintext"]), 0) == h(g["srtp"]["protected"])
    k = derive_key(mk, ms, LABEL_RTCP_ENCRYPTION, 16)
    s = derive_key(mk, ms, LABEL_RTCP_SALT, 12)
    assert protect_rtcp_gcm(k, s, h(g["srtcp"]["plaintext"]), 1) == h(g["srtcp"]["protected"])


def test_rfc3711_b2_keystream_and_b3_key_derivation() -> None:
    v = _vectors()["rfc3711_B2_aes_cm_keystream"]
    iv = int.from_bytes(h(v["offset_iv"]), "big")
    for block in v["blocks"]:
        start = (iv + int(block["counter"], 16)).to_bytes(16, "big")
        assert aes_cm_keystream(h(v["session_key"]), start, 16) == h(block["keystream"])
    v = _vectors()["rfc3711_B3_key_derivation"]
    mk, ms = h(v["master_key"]), h(v["master_salt"])
    e = v["expected"]
    assert derive_key(mk, ms, LABEL_RTP_ENCRYPTION, 16) == h(e["cipher_key"])
    assert derive_key(mk, ms, LABEL_RTP_SALT, 14) == h(e["cipher_salt"])
    assert derive_key(mk, ms, LABEL_RTP_AUTH, 94) == h(e["auth_key_94_bytes"])


def test_rfc6188_aes256() -> None:
    v = _vectors()["rfc6188_aes256_cm"]
    ks = v["keystream_test"]
    assert aes_cm_keystream(h(ks["session_key"]), h(ks["iv"]), 48) == h(
        ks["keystream_first_48_bytes"]
    )
    kd = v["key_derivation_test"]
    mk, ms = h(kd["master_key"]), h(kd["master_salt"])
    assert derive_key(mk, ms, LABEL_RTP_ENCRYPTION, 32) == h(kd["expected"]["cipher_key"])
    assert derive_key(mk, ms, LABEL_RTP_SALT, 14) == h(kd["expected"]["cipher_salt"])
    assert derive_key(mk, ms, LABEL_RTP_AUTH, 20) == h(kd["expected"]["auth_key"])


def test_rfc7714_gcm_packets() -> None:
    for v in _vectors()["rfc7714_aes_gcm"]:
        key, salt = h(v["session_key"]), h(v["session_salt"])
        assert protect_rtp_gcm(key, salt, h(v["rtp_plaintext"]), v["roc"]) == h(v["rtp_protected"])
        index = int(v["srtcp_index"], 16)
        assert protect_rtcp_gcm(key, salt, h(v["rtcp_plaintext"]), index) == h(v["rtcp_protected"])


@pytest.mark.corpus
def test_dtls_exporter_split_rfc5764() -> None:
    path = corpus("dtls", "tls12-prf.json")
    ex = json.loads(path.read_text())["vectors"][2]["computed_example_dtls_srtp_exporter"]
    keys = split_keying_material(h(ex["output"]), SRTP_AES128_CM_HMAC_SHA1_80)
    assert keys.client_write == h(
        ex["client_write_srtp_master_key"] + ex["client_write_srtp_master_salt"]
    )
    assert keys.server_write == h(
        ex["server_write_srtp_master_key"] + ex["server_write_srtp_master_salt"]
    )
    client = SrtpSession.from_keys(keys, is_client=True)
    server = SrtpSession.from_keys(keys, is_client=False)
    rtp = bytes.fromhex("80606f0100000001cafebabe") + b"media"
    assert server.unprotect_rtp(client.protect_rtp(rtp)) == rtp
    assert client.unprotect_rtp(server.protect_rtp(rtp)) == rtp
