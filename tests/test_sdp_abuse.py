"""Hostile SDPs cost linear work (issue 14 item 11).

An offer repeating ``a=group:BUNDLE`` N times over N ``a=rtpmap`` lines used to block the
event loop for seconds (jsep._check_bundle_payload_types walked every section's codecs
once per group), and ``sdp check``/``explain`` had the same pattern. Here each hostile
family is built at size N and 2N, within the parser's limits (MAX_LINES, MAX_SDP_SIZE,
MAX_MEDIA_SECTIONS, MAX_FORMATS), and each SDP operation (parse, check, explain, JSEP
answer and answer validation, a peer connection's set_remote/create_answer/set_local) is
measured in *work*: the Python lines executed inside pyrtcstack, counted with
:func:`sys.settrace`. That count is deterministic (no timing noise): linear code gives
≈2× for 2N, quadratic ≈4×; the bound is 2.5×, and at size N at most :data:`PER_BYTE`
lines per byte. A run is stopped as soon as it exceeds its bound, so quadratic code fails
quickly instead of running for minutes.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import pyrtcstack
from pyrtcstack.peerconnection import Configuration, Description, PeerConnectionCore
from pyrtcstack.sdp import SessionDescription
from pyrtcstack.sdp.attributes import Fingerprint
from pyrtcstack.sdp.check import check
from pyrtcstack.sdp.codecs import CodecCapability
from pyrtcstack.sdp.errors import MAX_LINES, MAX_MEDIA_SECTIONS, MAX_SDP_SIZE
from pyrtcstack.sdp.explain import explain
from pyrtcstack.sdp.jsep import (
    LocalCapabilities,
    MediaCapabilities,
    TransportParameters,
    create_answer,
    validate_answer,
)

PACKAGE = str(Path(pyrtcstack.__file__).parent)
RATIO = 2.5
#: and at size N no more than this many Python lines per byte of SDP (today's worst is
#: about 10: a peer connection answering many small sections)
PER_BYTE = 40
FP = "sha-256 " + ":".join(f"{i:02X}" for i in range(32))


class _TooMuchWork(BaseException):
    """Raised from the tracer to stop a run that already broke the bound."""


def work(operation: Callable[[], object], limit: float | None = None) -> int:
    """Python lines executed inside pyrtcstack while ``operation`` runs."""
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
            if limit is not None and count > limit:
                raise _TooMuchWork
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename.startswith(PACKAGE) else None

    sys.settrace(tracer)
    try:
        operation()
    except _TooMuchWork:
        count = -1
    finally:
        sys.settrace(None)
    return count


def _session(extra: list[str]) -> list[str]:
    return [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        f"a=fingerprint:{FP}",
        "a=setup:actpass",
        *extra,
    ]


def _audio(mid: str, formats: list[int], extra: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    return [
        f"m=audio 9 UDP/TLS/RTP/SAVPF {' '.join(map(str, formats))}",
        "c=IN IP4 0.0.0.0",
        f"a=mid:{mid}",
        "a=rtcp-mux",
        "a=sendrecv",
        *extra,
    ]


def repeated_bundle_groups(n: int) -> str:
    """The issue's offer: N identical BUNDLE groups over two sections with N rtpmaps."""
    rtpmaps = [f"a=rtpmap:{96 + i % 32} opus/48000/2" for i in range(n // 2)]
    lines = _session(["a=group:BUNDLE 0 1"] * n)
    lines += _audio("0", list(range(96, 128)), rtpmaps)
    lines += _audio("1", list(range(96, 128)), rtpmaps)
    return "\r\n".join(lines) + "\r\n"


def sections_times_session_attributes(n: int) -> str:
    """N/10 sections and N unknown session-level attributes: any per-section rescan of
    the session level is N²/10."""
    sections = n // 10
    lines = _session([f"a=x-pad:{i}" for i in range(n)])
    lines.insert(8, "a=group:BUNDLE " + " ".join(map(str, range(sections))))
    for i in range(sections):
        lines += _audio(str(i), [0])
    return "\r\n".join(lines) + "\r\n"


def many_groups_over_many_sections(n: int) -> str:
    """N/4 sections and N BUNDLE groups of two mids each: a per-group walk over every
    section (with a list look-up of the mid) is N²."""
    sections = n // 4
    groups = [f"a=group:BUNDLE {2 * j % sections} {(2 * j + 1) % sections}" for j in range(n)]
    lines = _session(groups)
    for i in range(sections):
        lines += _audio(str(i), [0])
    return "\r\n".join(lines) + "\r\n"


def wildcard_feedback(n: int) -> str:
    """N/32 payload types and N ``a=rtcp-fb:*`` lines (and N/32 session-level ones):
    attaching every line to every codec is quadratic work and output."""
    formats = list(range(n // 32))
    rtpmaps = [f"a=rtpmap:{pt} x-codec{pt}/90000" for pt in formats if pt >= 35]
    feedback = [f"a=rtcp-fb:* x-fb{i}" for i in range(n)]
    lines = _session([f"a=rtcp-fb:* x-session{i}" for i in range(n // 32)])
    lines += _audio("0", formats, rtpmaps + feedback)
    return "\r\n".join(lines) + "\r\n"


FAMILIES: dict[str, tuple[Callable[[int], str], int]] = {
    # builder, N (2N must stay within the parser's limits; asserted below)
    "repeated-bundle-groups": (repeated_bundle_groups, 4000),
    "sections-x-session-attributes": (sections_times_session_attributes, 2500),
    "many-groups-over-many-sections": (many_groups_over_many_sections, 1000),
    "wildcard-feedback": (wildcard_feedback, 2048),
}


def _local() -> LocalCapabilities:
    opus = CodecCapability("opus", 48000, 2, feedback=["transport-cc"])
    return LocalCapabilities(
        TransportParameters([Fingerprint.parse(FP)]),
        [MediaCapabilities("audio", [opus, CodecCapability("PCMU", 8000)])],
    )


def _answer_and_validate(text: str) -> None:
    offer = SessionDescription.parse(text)
    answer = create_answer(offer, _local(), rng=random.Random(1))
    validate_answer(offer, SessionDescription.parse(str(answer)))


def _peer_connection(text: str) -> None:
    pc = PeerConnectionCore(Configuration(), rng=random.Random(1))
    pc.set_remote_description(Description("offer", text), 0.0)
    pc.set_local_description(pc.create_answer(0.0), 0.0)


OPERATIONS: dict[str, Callable[[str], object]] = {
    "parse": SessionDescription.parse,
    "check": lambda text: check(SessionDescription.parse(text)),
    "explain": lambda text: explain(SessionDescription.parse(text)),
    "jsep-answer-and-validate": _answer_and_validate,
    "peer-connection": _peer_connection,
}


@pytest.mark.parametrize("family", FAMILIES)
def test_families_reach_the_limits(family: str) -> None:
    build, n = FAMILIES[family]
    text = build(2 * n)
    assert len(text) <= MAX_SDP_SIZE and text.count("\n") <= MAX_LINES
    desc = SessionDescription.parse(text)
    assert len(desc.media) <= MAX_MEDIA_SECTIONS
    assert len(text) > 50_000  # big enough that quadratic work shows


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("family", FAMILIES)
def test_work_is_linear(family: str, operation: str) -> None:
    build, n = FAMILIES[family]
    run = OPERATIONS[operation]
    small, large = build(n), build(2 * n)
    base = work(lambda: run(small), limit=PER_BYTE * len(small))
    assert base != -1, f"{family}/{operation}: more than {PER_BYTE} lines of work per SDP byte"
    assert base > 0
    doubled = work(lambda: run(large), limit=RATIO * base)
    assert doubled != -1, f"{family}/{operation}: more than {RATIO}× the work for 2× the input"
    assert doubled <= RATIO * base
