"""The SCTP counters a clean setup leaves at zero (pyrtcstack.interop.audit,
tests/test_interop_clean_setup.py): each counts what it names, and nothing else."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pyrtcstack.sctp.chunks import ErrorChunk, InitChunk
from pyrtcstack.sctp.handshake import Handshake
from pyrtcstack.sctp.params import CauseCode, ErrorCause, Parameter, ParamType, encode_tlv
from pyrtcstack.testing.pair import Impairment
from tests.test_sctp_association import B, Pair, decode_packet

SETUP = ("t1_expirations", "inits_repeated", "errors_received", "unrecognized_parameters")


def _setup_counters(p: Pair) -> list[dict[str, int]]:
    return [
        {k: v for k, v in dataclasses.asdict(a.stats).items() if k in SETUP} for a in (p.a, p.b)
    ]


def test_a_clean_handshake_counts_nothing() -> None:
    p = Pair()
    p.connect(both=True)
    assert _setup_counters(p) == [dict.fromkeys(SETUP, 0)] * 2


def test_t1_expiries_and_a_repeated_init() -> None:
    """B's INIT ACK is lost: A's T1-init expires and A sends its INIT again, which B had
    answered (RFC 9260 §6.3.3, §5.2.2)."""
    lost: list[bytes] = []

    def drop_init_ack(data: bytes, src: Any, dst: Any) -> bool:
        if src == B and not lost and any(type(c) is not InitChunk for c in _inits(data)):
            lost.append(data)
            return True
        return False

    p = Pair(impairment=Impairment(drop_if=drop_init_ack))
    p.connect()
    assert lost
    assert p.a.stats.t1_expirations == 1 and p.b.stats.t1_expirations == 0
    assert p.b.stats.inits_repeated == 1 and p.a.stats.inits_repeated == 0


def _inits(data: bytes) -> list[InitChunk]:
    return [c for c in decode_packet(data).chunks if isinstance(c, InitChunk)]


def test_an_init_ack_that_reports_an_unrecognized_parameter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """§3.3.3.1: the peer skipped a parameter of our INIT and says so in its INIT ACK."""
    p = Pair()
    params = Handshake.extension_params
    report = encode_tlv(ParamType.ZERO_CHECKSUM_ACCEPTABLE, b"\x00\x00\x00\x01")

    def with_report(self: Handshake, *args: Any) -> list[Parameter]:
        extra = [Parameter(ParamType.UNRECOGNIZED_PARAMETER, report)]
        return params(self, *args) + (extra if self is p.b.handshake else [])

    monkeypatch.setattr(Handshake, "extension_params", with_report)
    p.connect()
    assert p.a.stats.unrecognized_parameters == 1
    assert p.a.stats.errors_received == 0


def test_error_chunks_and_their_unrecognized_parameters() -> None:
    p = Pair()
    p.connect()
    unknown = encode_tlv(0x8123, b"")
    causes = [
        ErrorCause(CauseCode.UNRECOGNIZED_PARAMETERS, unknown),
        ErrorCause(CauseCode.INVALID_STREAM_IDENTIFIER, b"\x00\x05\x00\x00"),
    ]
    p.b.outbox.send_alone(ErrorChunk(causes).encode())
    p.net.run(lambda: p.a.stats.errors_received > 0, 5)
    assert p.a.stats.errors_received == 1 and p.a.stats.unrecognized_parameters == 1
    assert p.a.is_established  # informational (§3.3.10)
