"""Property tests for the DTLS 1.3 codecs: the unified header with record-number encryption
(every header variant), sequence-number reconstruction, ACK, the 1.3 messages and extension
payloads; hostile bytes give only DtlsDecodeError."""

from __future__ import annotations

import hashlib
import hmac
import random
import struct
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.dtls import keyschedule
from pyrtcstack.dtls.constants import NamedGroup
from pyrtcstack.dtls.errors import DtlsDecodeError
from pyrtcstack.dtls.handshake13 import Handshake13
from pyrtcstack.dtls.kex13 import X25519MLKEM768, client_shares, server_key_exchange
from pyrtcstack.dtls.keyschedule import (
    TLS13_SUITES,
    KeySchedule,
    TrafficKeys,
    hkdf_expand_label,
    hmac_digest,
)
from pyrtcstack.dtls.messages13 import (
    Certificate13,
    CertificateRequest13,
    EncryptedExtensions,
    KeyShareEntry,
    KeyUpdate,
    decode_client_key_shares,
    decode_cookie,
    decode_supported_versions_client,
    encode_client_key_shares,
    encode_cookie,
    encode_supported_versions_client,
)
from pyrtcstack.dtls.record13 import (
    CiphertextRecord,
    PlaintextRecord,
    decode_ack,
    encode_ack,
    open_record,
    parse_datagram13,
    reconstruct_sequence,
    seal_record,
    unmask_sequence,
)

SUITES = list(TLS13_SUITES.values())
suites = st.sampled_from(SUITES)
extensions = st.lists(
    st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)),
    max_size=5,
    unique_by=lambda e: e[0],
)


def _keys(suite_index: int, secret: bytes) -> TrafficKeys:
    suite = SUITES[suite_index % len(SUITES)]
    return TrafficKeys.derive(suite, secret.ljust(suite.hash_length, b"\x00"))


def _seal_variant(
    keys: TrafficKeys, epoch: int, seq: int, ctype: int, data: bytes, seq16: bool, length: bool
) -> bytes:
    """A DTLSCiphertext with any S/L combination (RFC 9147 §4), built by hand."""
    inner = data + bytes([ctype])
    first = 0x20 | (0x08 if seq16 else 0) | (0x04 if length else 0) | (epoch & 3)
    seq_bytes = (seq & 0xFFFF).to_bytes(2, "big") if seq16 else bytes([seq & 0xFF])
    header = bytes([first]) + seq_bytes
    if length:
        header += struct.pack("!H", len(inner) + 16)
    sealed = keys.seal(seq, header, inner)
    mask = keys.mask(sealed[:16])
    masked = bytes(b ^ m for b, m in zip(seq_bytes, mask, strict=False))
    return bytes([first]) + masked + header[1 + len(seq_bytes) :] + sealed


@settings(max_examples=100, deadline=None)
@given(
    suite=st.integers(0, 2),
    secret=st.binary(min_size=1, max_size=48),
    epoch=st.integers(2, 2**16 - 1),
    seq=st.integers(0, 2**48 - 1),
    ctype=st.sampled_from([21, 22, 23, 26]),
    data=st.binary(max_size=300),
    seq16=st.booleans(),
    length=st.booleans(),
)
def test_unified_header_round_trip(
    suite: int,
    secret: bytes,
    epoch: int,
    seq: int,
    ctype: int,
    data: bytes,
    seq16: bool,
    length: bool,
) -> None:
    keys = _keys(suite, secret)
    wire = _seal_variant(keys, epoch, seq, ctype, data, seq16, length)
    (record,), trailing = parse_datagram13(wire)
    assert trailing == 0 and isinstance(record, CiphertextRecord)
    assert record.epoch_bits == epoch & 3
    low = unmask_sequence(keys, record)
    bits = 16 if seq16 else 8
    assert low == seq & ((1 << bits) - 1)
    full = reconstruct_sequence(low, bits, seq)  # the receiver expected exactly this one
    assert full == seq
    assert open_record(keys, epoch, full, low, record) == (ctype, data)
    # any flipped bit is caught
    bad = bytearray(wire)
    bad[-1] ^= 0x80
    (bad_record,), _ = parse_datagram13(bytes(bad))
    assert isinstance(bad_record, CiphertextRecord)
    with pytest.raises(DtlsDecodeError):
        open_record(keys, epoch, full, unmask_sequence(keys, bad_record), bad_record)


@settings(max_examples=100, deadline=None)
@given(
    data=st.lists(st.binary(max_size=100), min_size=1, max_size=4),
    seq=st.integers(0, 2**20),
)
def test_seal_record_packs_several_per_datagram(data: list[bytes], seq: int) -> None:
    keys = _keys(0, b"k")
    datagram = b"".join(seal_record(keys, 3, seq + i, 23, d) for i, d in enumerate(data))
    records, trailing = parse_datagram13(datagram)
    assert trailing == 0 and len(records) == len(data)
    for i, (record, d) in enumerate(zip(records, data, strict=True)):
        assert isinstance(record, CiphertextRecord)
        low = unmask_sequence(keys, record)
        full = reconstruct_sequence(low, 16, seq + i)
        assert open_record(keys, 3, full, low, record) == (23, d)


@given(expected=st.integers(0, 2**48), delta=st.integers(-127, 127), bits=st.sampled_from([8, 16]))
def test_sequence_reconstruction_picks_the_closest(expected: int, delta: int, bits: int) -> None:
    actual = expected + delta
    if actual < 0:
        return
    low = actual & ((1 << bits) - 1)
    assert reconstruct_sequence(low, bits, expected) == actual


@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)), max_size=50))
def test_ack_round_trip(numbers: list[tuple[int, int]]) -> None:
    assert decode_ack(encode_ack(numbers)) == numbers


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_hostile_bytes_give_only_decode_errors(data: bytes) -> None:
    records, trailing = parse_datagram13(data)
    assert 0 <= trailing <= len(data)
    for r in records:
        assert isinstance(r, PlaintextRecord | CiphertextRecord)
    decoders = [
        decode_ack,
        EncryptedExtensions.decode,
        CertificateRequest13.decode,
        Certificate13.decode,
        KeyUpdate.decode,
        decode_client_key_shares,
        decode_supported_versions_client,
        decode_cookie,
    ]
    for decode in decoders:
        try:
            decode(data)
        except DtlsDecodeError:
            pass


@given(ext=extensions)
def test_encrypted_extensions_round_trip(ext: list[tuple[int, bytes]]) -> None:
    assert EncryptedExtensions.decode(EncryptedExtensions(ext).encode()).extensions == ext


@given(context=st.binary(max_size=20), ext=extensions)
def test_certificate_request_round_trip(context: bytes, ext: list[tuple[int, bytes]]) -> None:
    message = CertificateRequest13(context, ext)
    assert CertificateRequest13.decode(message.encode()) == message


@given(
    context=st.binary(max_size=20),
    certs=st.lists(st.binary(min_size=1, max_size=300), max_size=4),
)
def test_certificate_round_trip(context: bytes, certs: list[bytes]) -> None:
    message = Certificate13(context, tuple(certs))
    assert Certificate13.decode(message.encode()) == message


@given(
    shares=st.lists(
        st.tuples(st.integers(0, 0xFFFF), st.binary(min_size=1, max_size=100)),
        max_size=5,
        unique_by=lambda s: s[0],
    ),
    versions=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=10),
    cookie=st.binary(min_size=1, max_size=200),
    update=st.booleans(),
)
def test_extension_payloads_round_trip(
    shares: list[tuple[int, bytes]], versions: list[int], cookie: bytes, update: bool
) -> None:
    entries = [KeyShareEntry(g, k) for g, k in shares]
    assert decode_client_key_shares(encode_client_key_shares(entries)) == entries
    assert decode_supported_versions_client(encode_supported_versions_client(versions)) == (
        versions
    )
    assert decode_cookie(encode_cookie(cookie)) == cookie
    assert KeyUpdate.decode(KeyUpdate(update).encode()) == KeyUpdate(update)


def test_duplicate_key_share_group_is_refused() -> None:
    twice = encode_client_key_shares([KeyShareEntry(29, b"a"), KeyShareEntry(29, b"b")])
    with pytest.raises(DtlsDecodeError):
        decode_client_key_shares(twice)


def test_short_ciphertext_is_refused_before_decryption() -> None:
    """RFC 9147 §4.2.3: fewer than 16 ciphertext bytes cannot be unmasked."""
    (record,), _ = parse_datagram13(b"\x2e\x00\x01\x00\x05" + bytes(5))
    assert isinstance(record, CiphertextRecord)
    with pytest.raises(DtlsDecodeError):
        unmask_sequence(_keys(0, b"k"), record)


def test_connection_id_and_unknown_first_bytes_end_the_walk() -> None:
    assert parse_datagram13(b"\x3e" + bytes(30)) == ([], 31)  # C bit: no CID negotiated
    assert parse_datagram13(b"\x17\xfe\xfd" + bytes(20)) == ([], 23)  # 23 is never plaintext


def test_label_prefix_is_dtls13() -> None:
    """RFC 9147 §5.9: "dtls13" replaces "tls13 " (the two give different keys)."""
    suite = TLS13_SUITES[0x1301]
    secret = bytes(32)
    ours = hkdf_expand_label("sha256", secret, b"key", b"", 16)
    info = b"\x00\x10" + bytes([len(b"dtls13key")]) + b"dtls13key" + b"\x00"
    expected = hmac.digest(secret, info + b"\x01", "sha256")[:16]
    assert ours == expected
    schedule = KeySchedule(suite)
    assert len(schedule.early_secret) == 32


@pytest.mark.parametrize("code", [0x1301, 0x1302])
def test_handshake_secret_follows_rfc_8446_7_1_without_psk(code: int) -> None:
    """RFC 8446 §7.1 step by step with the standard library's HMAC: Early Secret =
    HKDF-Extract(0, 0) (RFC 8448 §3's value for SHA-256), Derive-Secret(., "derived", ""),
    then HKDF-Extract(derived, (EC)DHE). Each schedule, the first of a process or not."""
    suite = TLS13_SUITES[code]
    h, n = suite.hash_name, suite.hash_length
    early = hmac.digest(bytes(n), bytes(n), h)
    if h == "sha256":
        assert early.hex() == "33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a"
    label = b"dtls13derived"
    info = n.to_bytes(2, "big") + bytes([len(label)]) + label
    info += bytes([n]) + hashlib.new(h).digest()
    derived = hmac.digest(early, info + b"\x01", h)[:n]
    shared = bytes(range(32))
    for _ in range(2):
        schedule = KeySchedule(suite)
        schedule.set_shared_secret(shared, bytes(n))
        assert schedule.early_secret == early
        assert schedule.handshake_secret == hmac.digest(derived, shared, h)


def test_no_psk_chain_is_derived_once_per_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """No handshake input enters the Early Secret or its "derived" secret without a PSK:
    a handshake computes only HKDF-Extract(derived, (EC)DHE) and its two traffic secrets."""
    KeySchedule(TLS13_SUITES[0x1301])  # the process's first: the chain is made here
    calls: list[bytes] = []

    def counted(hash_name: str, key: bytes, message: bytes) -> bytes:
        calls.append(key)
        return hmac.digest(key, message, hash_name)

    monkeypatch.setattr(keyschedule, "hmac_digest", counted)
    schedule = KeySchedule(TLS13_SUITES[0x1301])
    schedule.set_shared_secret(bytes(32), bytes(32))
    assert len(calls) == 3  # the extract, c hs traffic, s hs traffic


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["sha256", "sha384"]),
    st.binary(min_size=0, max_size=200),
    st.binary(min_size=0, max_size=300),
)
def test_hmac_digest_is_the_standard_librarys(name: str, key: bytes, message: bytes) -> None:
    """RFC 2104 written out (keys shorter than, equal to and longer than the block)."""
    assert hmac_digest(name, key, message) == hmac.digest(key, message, name)


def test_hmac_digest_falls_back_for_other_hashes() -> None:
    assert hmac_digest("sha512", b"k", b"m") == hmac.digest(b"k", b"m", "sha512")


class _Host:
    """Only weakly referenced: the transcript needs no engine."""


def test_transcript_hash_runs_over_what_was_added_and_restarts() -> None:
    """RFC 8446 §4.4.1: Transcript-Hash is the hash of every message so far. The running
    hash takes only new octets, and starts again for a replaced transcript (after a
    HelloRetryRequest) or another suite's hash."""
    role = Handshake13(cast(Any, None), cast(Any, _Host()))
    role._schedule = KeySchedule(TLS13_SUITES[0x1301])
    role._add_transcript(1, b"a" * 1300)
    whole = bytes(role._transcript)
    assert role._hash() == hashlib.sha256(whole).digest()
    assert role._hash() == hashlib.sha256(whole).digest()  # asked twice, nothing added
    role._add_transcript(2, b"b" * 90)
    whole = bytes(role._transcript)
    assert role._hash() == hashlib.sha256(whole).digest()
    role._transcript = bytearray(b"\xfe\x00\x00\x20" + bytes(32))  # message_hash, shorter
    assert role._hash() == hashlib.sha256(role._transcript).digest()
    replaced = bytearray(whole + b"c")  # as long as before and more, but another object
    role._transcript = replaced
    assert role._hash() == hashlib.sha256(replaced).digest()
    role._schedule = KeySchedule(TLS13_SUITES[0x1302])  # SHA-384, the same transcript
    assert role._hash() == hashlib.sha384(replaced).digest()


def test_x25519_share_is_the_hybrids_half_and_each_share_completes() -> None:
    """RFC 9954 (draft-ietf-tls-hybrid-design §3.2): the x25519 share may reuse the hybrid's x25519
    key (one key generation fewer); whichever group the server picks, both sides agree."""
    rng = random.Random(7)
    shares = client_shares((X25519MLKEM768, int(NamedGroup.X25519)), rng)
    hybrid, plain = shares[X25519MLKEM768], shares[int(NamedGroup.X25519)]
    assert plain.public_bytes == hybrid.public_bytes[-32:]
    for group, share in shares.items():
        server_share, secret = server_key_exchange(group, share.public_bytes, rng)
        assert share.exchange(server_share) == secret
    alone = client_shares((int(NamedGroup.X25519), X25519MLKEM768), rng)  # x25519 first
    assert alone[int(NamedGroup.X25519)].public_bytes != alone[X25519MLKEM768].public_bytes[-32:]
