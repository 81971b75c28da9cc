"""SrtpSession behaviour: every supported profile, replay protection, error counting,
rollover, and libsrtp cross-checked against the pure-Python reference model."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.srtp import (
    PROFILES,
    SRTP_AEAD_AES_128_GCM,
    SRTP_AEAD_AES_256_GCM,
    SRTP_AES128_CM_HMAC_SHA1_80,
    KeyingMaterialLengthError,
    SrtpAuthenticationError,
    SrtpError,
    SrtpProfile,
    SrtpReplayError,
    SrtpSession,
    SrtpUsageError,
    profile_by_id,
    split_keying_material,
    supported_profiles,
)
from pyrtcstack.srtp import reference as ref


def rtp(seq: int, ssrc: int = 0x11223344, payload: bytes = b"x" * 100, ts: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq & 0xFFFF, ts, ssrc) + payload


def pair(profile: SrtpProfile, seed: int = 1) -> tuple[SrtpSession, SrtpSession]:
    material = random.Random(seed).randbytes(profile.exporter_length)
    keys = split_keying_material(material, profile)
    return SrtpSession.from_keys(keys, True), SrtpSession.from_keys(keys, False)


def test_probe_finds_all_three_profiles() -> None:
    names = {p.name for p in supported_profiles()}
    assert names == {
        "SRTP_AES128_CM_HMAC_SHA1_80",
        "SRTP_AEAD_AES_128_GCM",
        "SRTP_AEAD_AES_256_GCM",
    }
    assert profile_by_id(0x0007) is SRTP_AEAD_AES_128_GCM
    assert [p.exporter_length for p in PROFILES] == [88, 56, 60]  # RFC 5764/7714 sizes
    with pytest.raises(SrtpUsageError):
        profile_by_id(0x0002)


@pytest.mark.parametrize("profile", supported_profiles(), ids=lambda p: p.name)
def test_roundtrip_replay_and_tamper(profile: SrtpProfile) -> None:
    client, server = pair(profile)
    packets = [client.protect_rtp(rtp(i)) for i in range(200)]
    assert all(len(p) == 112 + profile.rtp_overhead for p in packets)
    # reordered inside the window: accepted (SRTP-05: packet 30 behind)
    order = [*list(range(40)), 70, 40, *list(range(41, 70)), *list(range(71, 200))]
    for i in order:
        assert server.unprotect_rtp(packets[i]) == rtp(i)
    with pytest.raises(SrtpReplayError):
        server.unprotect_rtp(packets[150])
    bad = bytearray(client.protect_rtp(rtp(200)))
    bad[20] ^= 1
    with pytest.raises(SrtpAuthenticationError):
        server.unprotect_rtp(bytes(bad))
    with pytest.raises(SrtpError):
        server.unprotect_rtp(b"\x80\x60")
    assert server.stats.replays == 1 and server.stats.auth_failures == 1
    assert server.stats.other_errors == 1 and server.stats.errors == 3
    rr = bytes.fromhex("81c90007deadbeef") + bytes(24)
    assert server.unprotect_rtcp(client.protect_rtcp(rr)) == rr
    assert client.unprotect_rtcp(server.protect_rtcp(rr)) == rr


def test_rollover_counter_across_wrap() -> None:
    # SRTP-04: a stream crossing 65535 -> 0, with reordering around the wrap
    client, server = pair(SRTP_AEAD_AES_128_GCM)
    seqs = list(range(65500, 65536)) + list(range(40))
    protected = {s: client.protect_rtp(rtp(s)) for s in seqs}
    order = [*seqs[:30], 2, 65530, 65531, 65532, 65533, 65534, 65535, 0, 1, *seqs[39:]]
    for s in order:
        assert server.unprotect_rtp(protected[s]) == rtp(s)


def test_bad_keys_and_short_packets_are_usage_errors() -> None:
    with pytest.raises(SrtpUsageError):
        SrtpSession(SRTP_AES128_CM_HMAC_SHA1_80, b"short", bytes(30))
    with pytest.raises(KeyingMaterialLengthError):
        split_keying_material(bytes(59), SRTP_AES128_CM_HMAC_SHA1_80)
    client, _ = pair(SRTP_AEAD_AES_256_GCM)
    with pytest.raises(SrtpUsageError):
        client.protect_rtp(b"\x80")


def _with_header_bits(draw: st.DrawFn) -> bytes:
    cc = draw(st.integers(0, 3))
    ext = draw(st.booleans())
    head = struct.pack(
        "!BBHII",
        0x80 | (0x10 if ext else 0) | cc,
        draw(st.integers(0, 127)),
        draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, 0xFFFFFFFF)),
        draw(st.integers(0, 0xFFFFFFFF)),
    )
    head += bytes(4 * cc)
    if ext:
        words = draw(st.integers(0, 3))
        head += struct.pack("!HH", 0xBEDE, words) + bytes(4 * words)
    return head + draw(st.binary(min_size=1, max_size=300))


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(["cm", "gcm128", "gcm256"]))
def test_libsrtp_equals_reference_model(data: st.DataObject, which: str) -> None:
    profile = {
        "cm": SRTP_AES128_CM_HMAC_SHA1_80,
        "gcm128": SRTP_AEAD_AES_128_GCM,
        "gcm256": SRTP_AEAD_AES_256_GCM,
    }[which]
    master = data.draw(st.binary(min_size=profile.master_length, max_size=profile.master_length))
    mk, ms = master[: profile.key_length], master[profile.key_length :]
    packet = _with_header_bits(data.draw)
    rtcp = bytes.fromhex("81c90001") + data.draw(st.binary(min_size=4, max_size=60))
    session = SrtpSession(profile, master, master)
    if which == "cm":
        k = ref.derive_key(mk, ms, ref.LABEL_RTP_ENCRYPTION, 16)
        s = ref.derive_key(mk, ms, ref.LABEL_RTP_SALT, 14)
        a = ref.derive_key(mk, ms, ref.LABEL_RTP_AUTH, 20)
        assert session.protect_rtp(packet) == ref.protect_rtp_cm(k, s, a, packet, 0)
        k = ref.derive_key(mk, ms, ref.LABEL_RTCP_ENCRYPTION, 16)
        s = ref.derive_key(mk, ms, ref.LABEL_RTCP_SALT, 14)
        a = ref.derive_key(mk, ms, ref.LABEL_RTCP_AUTH, 20)
        assert session.protect_rtcp(rtcp) == ref.protect_rtcp_cm(k, s, a, rtcp, 1)
    else:
        k = ref.derive_key(mk, ms, ref.LABEL_RTP_ENCRYPTION, profile.key_length)
        s = ref.derive_key(mk, ms, ref.LABEL_RTP_SALT, 12)
        assert session.protect_rtp(packet) == ref.protect_rtp_gcm(k, s, packet, 0)
        k = ref.derive_key(mk, ms, ref.LABEL_RTCP_ENCRYPTION, profile.key_length)
        s = ref.derive_key(mk, ms, ref.LABEL_RTCP_SALT, 12)
        assert session.protect_rtcp(rtcp) == ref.protect_rtcp_gcm(k, s, rtcp, 1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(PROFILES))
def test_hostile_bytes_only_srtp_error(data: bytes, profile: SrtpProfile) -> None:
    _, server = pair(profile)
    for fn in (server.unprotect_rtp, server.unprotect_rtcp):
        try:
            fn(data)
        except SrtpError:
            pass
