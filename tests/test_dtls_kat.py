"""Known-answer tests: the TLS 1.2 PRF, the key schedule, the exporter, and decoding of real
DTLS records and hello bodies from the shared corpus (../shared/corpus/dtls)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from pyrtcstack.dtls.constants import ContentType, HandshakeType
from pyrtcstack.dtls.errors import DtlsDecodeError
from pyrtcstack.dtls.fragments import parse_fragments
from pyrtcstack.dtls.messages import ClientHello, HelloVerifyRequest, ServerHello
from pyrtcstack.dtls.prf import (
    export_keying_material,
    key_block,
    master_secret,
    prf,
    verify_data,
)
from pyrtcstack.dtls.record import parse_records
from pyrtcstack.dtls.srtp import SrtpProfile, split_keying_material
from tests.peers import corpus, data


def _vectors(path: Path) -> list[dict[str, object]]:
    return list(json.loads(path.read_text())["vectors"])


def _by_name(name: str) -> dict[str, object]:
    """The IETF TLS WG PRF vectors are in tests/data/rfc; the Illustrated TLS 1.2 key
    schedule only in the shared corpus (tests reading it are marked ``corpus``)."""
    for v in _vectors(data("rfc", "tls12-prf.json")):
        if v["name"] == name:
            return v
    return next(v for v in _vectors(corpus("dtls", "tls12-prf.json")) if v["name"] == name)


@pytest.mark.parametrize("name", ["tls12_prf_sha256_ietf_tls_wg", "tls12_prf_sha384_ietf_tls_wg"])
def test_prf_known_answers(name: str) -> None:
    v = _by_name(name)
    hash_name = str(v["hash"]).replace("-", "").lower()
    out = prf(
        hash_name,
        bytes.fromhex(str(v["secret"])),
        str(v["label"]).encode(),
        bytes.fromhex(str(v["seed"])),
        int(str(v["output_length"])),
    )
    assert out.hex() == v["output"]


@pytest.mark.corpus
def test_ulfheim_key_schedule() -> None:
    v = {k: str(x) for k, x in _by_name("ulfheim_tls12_handshake_key_schedule").items()}
    h = bytes.fromhex
    priv = x25519.X25519PrivateKey.from_private_bytes(h(v["x25519_client_private"]))
    pre_master = priv.exchange(
        x25519.X25519PublicKey.from_public_bytes(h(v["x25519_server_public"]))
    )
    assert pre_master.hex() == v["pre_master_secret"]
    cr, sr = h(v["client_random"]), h(v["server_random"])
    master = master_secret("sha256", pre_master, cr, sr)
    assert master.hex() == v["master_secret"]
    block = key_block("sha256", master, cr, sr, 40)
    assert block[:16].hex() == v["client_write_key"]
    assert block[16:32].hex() == v["server_write_key"]
    assert block[32:36].hex() == v["client_write_iv"]
    assert block[36:40].hex() == v["server_write_iv"]
    transcript = h(v["handshake_messages_hex"])
    assert verify_data("sha256", master, True, transcript).hex() == v["client_verify_data"]


@pytest.mark.corpus
def test_dtls_srtp_exporter_example() -> None:
    v = _by_name("ulfheim_tls12_handshake_key_schedule")
    ex = v["computed_example_dtls_srtp_exporter"]
    assert isinstance(ex, dict)
    master = bytes.fromhex(str(v["master_secret"]))
    out = export_keying_material(
        "sha256",
        master,
        bytes.fromhex(str(v["client_random"])),
        bytes.fromhex(str(v["server_random"])),
        label=b"EXTRACTOR-dtls_srtp",
        length=60,
    )
    assert out.hex() == ex["output"]
    keys = split_keying_material(out, SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80)
    assert keys.client_key.hex() == ex["client_write_srtp_master_key"]
    assert keys.server_key.hex() == ex["server_write_srtp_master_key"]
    assert keys.client_salt.hex() == ex["client_write_srtp_master_salt"]
    assert keys.server_salt.hex() == ex["server_write_srtp_master_salt"]
    assert keys.for_role(True) == (keys.client_write, keys.server_write)
    assert keys.for_role(False) == (keys.server_write, keys.client_write)


def test_exporter_context_differs_from_no_context() -> None:
    args = ("sha256", b"m" * 48, b"c" * 32, b"s" * 32)
    none = export_keying_material(*args, label=b"L", length=16)
    empty = export_keying_material(*args, label=b"L", length=16, context=b"")
    assert none != empty
    assert empty == prf("sha256", b"m" * 48, b"L", b"c" * 32 + b"s" * 32 + b"\x00\x00", 16)


def test_srtp_profile_sizes_match_the_facts_file() -> None:
    facts = json.loads(data("rfc", "dtls-srtp-facts.json").read_text())
    profiles = facts["rfc5764"]["protection_profiles"]
    for profile in SrtpProfile:
        entry = profiles[profile.name]
        assert int(entry["id"], 16) == profile.value
        assert entry["master_key_bytes"] == profile.key_length
        assert entry["master_salt_bytes"] == profile.salt_length
        assert entry["keying_material_bytes"] == profile.keying_material_length
    assert facts["rfc5764"]["exporter_label"] == "EXTRACTOR-dtls_srtp"


def _records_corpus() -> dict[str, object]:
    return dict(json.loads(corpus("dtls", "dtls-records.json").read_text()))


@pytest.mark.corpus
def test_chrome_flight5_record_layout() -> None:
    entry = next(
        r for r in _records_corpus()["records"] if r["name"] == "chrome-dtls12-client-flight5"
    )  # type: ignore[union-attr, index]
    records, trailing = parse_records(bytes.fromhex(entry["hex"]))
    assert trailing == entry["trailing_bytes"] == 0
    assert len(records) == len(entry["records"])
    for record, expected in zip(records, entry["records"], strict=True):
        assert record.content_type == expected["content_type"]
        assert record.epoch == expected["epoch"]
        assert record.sequence_number == expected["sequence_number"]
        assert len(record.fragment) == expected["length"]
        if "handshake" in expected and record.epoch == 0:
            (frag,) = parse_fragments(record.fragment)
            hs = expected["handshake"]
            assert (frag.msg_type, frag.length, frag.message_seq) == (
                hs["msg_type"],
                hs["length"],
                hs["message_seq"],
            )
            assert frag.fragment_offset == hs["fragment_offset"]
            assert len(frag.body) == hs["fragment_length"]
    assert records[3].content_type == ContentType.CHANGE_CIPHER_SPEC
    assert records[3].fragment == b"\x01"


@pytest.mark.corpus
def test_ccs_record_and_bad_length_record() -> None:
    recs = {r["name"]: r for r in _records_corpus()["records"]}  # type: ignore[union-attr]
    records, _ = parse_records(bytes.fromhex(recs["pion-ccs-record"]["hex"]))
    assert records[0].content_type == ContentType.CHANGE_CIPHER_SPEC
    assert records[0].sequence_number == 0x12
    with pytest.raises(DtlsDecodeError):
        parse_records(bytes.fromhex(recs["pion-record-declared-length-too-long"]["hex"]))


@pytest.mark.corpus
def test_hello_bodies_decode_and_reencode() -> None:
    bodies = {b["name"]: b for b in _records_corpus()["handshake_bodies"]}  # type: ignore[union-attr]
    raw = bytes.fromhex(bodies["pion-clienthello-body"]["hex"])
    ch = ClientHello.decode(raw)
    assert ch.client_version == 0xFEFD
    assert ch.cookie.hex() == bodies["pion-clienthello-body"]["decoded"]["cookie"]
    assert ch.cipher_suites == (0xC02B, 0xC00A)
    assert ch.extensions == [(10, bytes.fromhex("0002001d"))]
    assert ch.encode() == raw
    raw = bytes.fromhex(bodies["pion-serverhello-body"]["hex"])
    sh = ServerHello.decode(raw)
    assert sh.cipher_suite == 0xC02B and sh.extensions == []
    assert sh.encode() == raw[:-2]  # an empty extensions block is written as none at all
    raw = bytes.fromhex(bodies["pion-helloverifyrequest-body"]["hex"])
    hvr = HelloVerifyRequest.decode(raw)
    assert hvr.server_version == 0xFEFF and len(hvr.cookie) == 20
    assert hvr.encode() == raw


def test_finished_hash_is_over_unfragmented_messages() -> None:
    """The transcript holds each message with offset 0 and full length (RFC 6347 §4.2.6)."""
    from pyrtcstack.dtls.fragments import encode_message, fragment_message

    body = bytes(range(200))
    pieces = fragment_message(HandshakeType.CERTIFICATE, 3, body, 64)
    assert len(pieces) == 4
    whole = encode_message(HandshakeType.CERTIFICATE, 3, body)
    assert whole[:12] == bytes([11, 0, 0, 200, 0, 3, 0, 0, 0, 0, 0, 200])
    assert hashlib.sha256(whole).digest() != hashlib.sha256(b"".join(pieces)).digest()
