"""Modules that fit together (issue 17): what one module returns, the next one takes.

DTLS → SRTP through one shared type each, the documented examples run as written, and
the small API mismatches a person importing one module meets first (reprs in constructor
names, enum names, exports where the docs put them, a clear error for a wrong type).
"""

from __future__ import annotations

import contextlib
import io
import re
import struct
import warnings
from pathlib import Path
from typing import Any

import pytest
from peers import PROJECT

import pyrtcstack.dtls as dtls
import pyrtcstack.srtp as srtp
from pyrtcstack.datachannel import (
    ChannelMessage,
    DataChannelManager,
    InvalidStateError,
    MessageTooLargeError,
)
from pyrtcstack.dtls import DtlsCertificate, DtlsDecodeError, DtlsRole, Fingerprint
from pyrtcstack.rtp import RtpPacket
from pyrtcstack.sctp import MessageTooLargeError as SctpMessageTooLargeError
from pyrtcstack.stun import Message, MessageClass, Method
from tests.test_dtls_helpers import make_pair


def _python_blocks(doc: str) -> list[str]:
    text = (PROJECT / "docs" / doc).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


# ---- DTLS → SRTP ---------------------------------------------------------------------------


def test_dtls_and_srtp_share_one_profile_and_one_keys_type() -> None:
    assert dtls.SrtpProfile is srtp.SrtpProfile
    assert dtls.SrtpKeys is srtp.SrtpKeys
    assert srtp.SRTP_AEAD_AES_128_GCM is dtls.SrtpProfile.SRTP_AEAD_AES_128_GCM


@pytest.mark.parametrize("profile", srtp.supported_profiles(), ids=lambda p: p.name)
def test_srtp_session_from_a_finished_dtls_handshake(profile: srtp.SrtpProfile) -> None:
    pair = make_pair(
        seed=5,
        client_kwargs={"srtp_profiles": [profile]},
        server_kwargs={"srtp_profiles": [profile]},
    )
    assert pair.run()
    client, server = pair.client, pair.server
    assert client.srtp_profile is profile
    # The two calls of the issue: both used to raise AttributeError.
    tx = srtp.SrtpSession.from_keys(client.srtp_keys(), is_client=client.role is DtlsRole.CLIENT)
    material = server.export_keying_material(
        srtp.EXPORTER_LABEL, server.srtp_profile.exporter_length
    )
    keys = srtp.split_keying_material(material, server.srtp_profile)
    assert keys == client.srtp_keys()
    rx = srtp.SrtpSession.from_keys(keys, is_client=False)
    rtp = struct.pack("!BBHII", 0x80, 0, 7, 1120, 0xABCDEF01) + b"\x55" * 160
    wire = tx.protect_rtp(rtp)
    assert len(wire) == len(rtp) + profile.rtp_overhead
    assert rx.unprotect_rtp(wire) == rtp
    assert "bytes" in repr(keys) and keys.client_write.hex() not in repr(keys)


def test_profile_constants_are_named_as_their_name() -> None:
    for name in ("SRTP_AES128_CM_HMAC_SHA1_80", "SRTP_AEAD_AES_128_GCM", "SRTP_AEAD_AES_256_GCM"):
        assert getattr(srtp, name).name == name
    for profile in srtp.PROFILES:
        assert getattr(srtp, profile.name) is profile
    with pytest.warns(DeprecationWarning, match="SRTP_AEAD_AES_128_GCM"):
        assert srtp.AEAD_AES_128_GCM is srtp.SRTP_AEAD_AES_128_GCM  # type: ignore[attr-defined]


def test_wrong_keying_material_length_is_a_documented_error() -> None:
    with pytest.raises(srtp.KeyingMaterialLengthError, match="60 bytes"):
        srtp.split_keying_material(bytes(59), srtp.SRTP_AES128_CM_HMAC_SHA1_80)


def test_docs_srtp_worked_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    (code,) = [b for b in _python_blocks("srtp.md") if "srtp_keys()" in b]
    exec(compile(code, "docs/srtp.md", "exec"), {"__name__": "docs"})
    assert capsys.readouterr().out.split() == ["SRTP_AES128_CM_HMAC_SHA1_80", "172", "->", "182"]


# ---- fingerprints ----------------------------------------------------------------------------


def test_fingerprint_parse_takes_what_fingerprint_returns() -> None:
    cert = DtlsCertificate.generate()
    fp = cert.fingerprint()
    assert isinstance(fp, Fingerprint)
    assert str(fp).startswith("sha-256 ") and fp.matches(cert.der)
    assert Fingerprint.parse(fp) == fp == Fingerprint.parse(str(fp).lower())
    with pytest.raises(DtlsDecodeError, match="not int"):
        Fingerprint.parse(5)  # type: ignore[arg-type]


def test_docs_dtls_fingerprint_lines_run(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = [b for b in _python_blocks("dtls.md") if "cert.fingerprint()" in b]
    head = block.split("conn = DtlsConnection(")[0]
    assert "Fingerprint.parse(fp)" in head  # the doc shows that parse takes what it returns
    exec(compile(head, "docs/dtls.md", "exec"), {"__name__": "docs"})
    assert re.fullmatch(r"sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}\n", capsys.readouterr().out)


# ---- reprs and names ---------------------------------------------------------------------------


def test_rtp_packet_repr_uses_the_constructor_names() -> None:
    packet = RtpPacket(
        payload_type=111, sequence_number=14156, timestamp=1327210925, ssrc=4084547440,
        payload=b"x" * 54, marker=True, extensions={9: b"0"},
    )  # fmt: skip
    text = repr(packet)
    for name in ("payload_type=111", "sequence_number=14156", "timestamp=1327210925"):
        assert name in text
    assert "pt=" not in text and "seq=" not in text and "<54 bytes>" in text
    # every keyword in the repr is one the constructor takes
    import inspect

    params = set(inspect.signature(RtpPacket).parameters)
    assert set(re.findall(r"(\w+)=", text)) <= params


def test_stun_method_and_class_print_as_names() -> None:
    msg = Message(Method.BINDING, MessageClass.SUCCESS)
    assert f"{msg.method} {msg.message_class}" == "BINDING SUCCESS"
    assert str(Method.ALLOCATE) == "ALLOCATE" and str(MessageClass.REQUEST) == "REQUEST"
    assert f"{msg.method:03X}" == "001" and int(msg.method) == 1  # numbers still format


# ---- data channels ------------------------------------------------------------------------------


def test_message_too_large_is_importable_from_datachannel() -> None:
    assert MessageTooLargeError is SctpMessageTooLargeError


def _wired_managers() -> tuple[DataChannelManager, DataChannelManager, Any]:
    a = DataChannelManager(dtls_role="client")
    b = DataChannelManager(dtls_role="server")

    def pump() -> None:
        for _ in range(20):
            moved = False
            for x, y in ((a, b), (b, a)):
                for packet in x.packets_to_send(0.0):
                    y.receive_packet(packet, 0.0)
                    moved = True
            if not moved:
                return

    a.connect(0.0)
    b.connect(0.0)
    return a, b, pump


def test_send_takes_str_and_bytes_and_refuses_other_types_clearly() -> None:
    a, b, pump = _wired_managers()
    channel = a.create_data_channel("chat")
    pump()
    for m in (a, b):
        while m.next_event() is not None:
            pass
    assert channel.ready_state == "open"
    channel.send("héllo")
    channel.send(b"\x00\x01")
    channel.send("a\ud800b")  # a lone surrogate: U+FFFD, as the W3C USVString conversion
    for bad in (123, None, [1, 2], 1.5):
        with pytest.raises(TypeError, match=f"not {type(bad).__name__}"):
            channel.send(bad)  # type: ignore[arg-type]
    pump()
    got = []
    while (event := b.next_event()) is not None:
        if isinstance(event, ChannelMessage):
            got.append(event.data)
    assert got == ["héllo", b"\x00\x01", "a\ufffdb"]  # no 123 zero bytes, no [1, 2]
    channel.close()
    with pytest.raises(InvalidStateError):
        channel.send("late")


def test_docs_datachannel_example_drains_after_send(capsys: pytest.CaptureFixture[str]) -> None:
    (code,) = [b for b in _python_blocks("datachannel.md") if "def drive(" in b]
    namespace: dict[str, Any] = {"__name__": "docs", "now": 0.0}
    exec(compile(code, "docs/datachannel.md", "exec"), namespace)
    a = namespace["dcm"]  # the block's own manager, with its "chat" channel
    b = DataChannelManager(dtls_role="server")
    b.connect(0.0)
    drive = namespace["drive"]
    to_a: list[bytes] = []
    to_b: list[bytes] = []
    # Six turns, never a timer: enough only if every turn drains after handling events
    # (draining before them, as the old example did, needs eight).
    for _ in range(6):
        incoming_a, incoming_b = to_a[:], to_b[:]
        to_a.clear()
        to_b.clear()
        drive(a, incoming_a, to_b.append, 0.0)
        drive(b, incoming_b, to_a.append, 0.0)
    out = capsys.readouterr().out
    assert "new channel chat" in out
    assert out.count("chat hello") == 2  # each side's ChannelOpen sent "hello" to the other


# ---- documented attributes ----------------------------------------------------------------


def test_documented_apis_mention_every_public_member() -> None:
    from dataclasses import fields

    from pyrtcstack.ice import IceConfig
    from pyrtcstack.signaling.client import SignalingClient

    ice = (PROJECT / "docs" / "ice.md").read_text(encoding="utf-8")
    for field in fields(IceConfig):
        assert f"`{field.name}`" in ice or f"`{field.name}/" in ice, field.name
    signaling = (PROJECT / "docs" / "signaling.md").read_text(encoding="utf-8")
    for name in dir(SignalingClient):
        if not name.startswith("_"):
            assert f"{name}(" in signaling, name


def test_docs_wav_recorder_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wave

    (code,) = [b for b in _python_blocks("media.md") if "WavRecorder(" in b]
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "docs"}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        exec(compile(code, "docs/media.md", "exec"), namespace)
    assert namespace["rec"].samples_written == 480
    with wave.open(str(tmp_path / "tone.wav"), "rb") as wav:
        assert (wav.getframerate(), wav.getnframes()) == (8000, 480)
