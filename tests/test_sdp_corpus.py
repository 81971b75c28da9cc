"""Every SDP of the shared corpus parses and matches its sidecar facts; every bad one fails.

The corpus (../shared/corpus, see its README) is an extra: without it these tests are left
out of the run (marked `corpus`), and tests/data has the project's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from peers import CORPUS, corpus

from pyrtcstack.sdp import Fingerprint, MediaDescription, ParseError, SessionDescription

#: Every test here reads ../shared/corpus (an extra beside tests/data).
pytestmark = pytest.mark.corpus

# Corpus SDPs whose c= lines are out of RFC 8866 order (written back in order; docs/sdp.md).
MISPLACED_C_LINES = {
    "017-sdp-transform-normal.sdp",
    "025-sdp-transform-extmap-encrypt.sdp",
    "028-janus-videoroom-rejected-video-via-pion.sdp",
}


def _files(folder: str) -> list[str]:
    path = CORPUS / folder
    if not path.is_dir():
        return ["<corpus absent>"]
    return sorted(p.name for p in path.glob("*.sdp"))


def _load(folder: str, name: str) -> tuple[bytes, dict[str, Any]]:
    sdp = corpus(folder, name)
    return sdp.read_bytes(), json.loads(Path(sdp).with_suffix(".json").read_text())


def _fingerprints(fps: list[Any]) -> list[dict[str, str]]:
    return [{"algorithm": f.algorithm, "value": f.value} for f in fps]


def _media_facts(m: MediaDescription, desc: SessionDescription) -> dict[str, Any]:
    conn = m.connection
    sctpmap = m.sctpmap
    rtcp = m.attribute("rtcp")
    return {
        "kind": m.kind,
        "port": m.port,
        "port_count": m.port_count,
        "protocol": m.protocol,
        "formats": m.formats,
        "mid": m.mid,
        "direction": m.direction,
        "connection": None if conn is None else str(conn),
        "bandwidth": [str(b) for b in m.bandwidths],
        "ice_ufrag": m.ice_ufrag,
        "ice_pwd": m.ice_pwd,
        "ice_options": m.attribute("ice-options"),
        "ice_lite": m.ice_lite,
        "fingerprints": _fingerprints(m.fingerprints),
        "setup": m.setup,
        "candidate_count": len(m.candidates),
        "candidates": [
            {
                "foundation": c.foundation,
                "component": c.component,
                "transport": c.transport,
                "priority": c.priority,
                "address": c.address,
                "port": c.port,
                "type": c.type,
                "raddr": c.related_address,
                "rport": c.related_port,
                "tcptype": c.tcptype,
                "extensions": dict(c.extensions),
            }
            for c in m.candidates
        ],
        "end_of_candidates": m.end_of_candidates,
        "rtpmap": [
            {
                "pt": str(r.payload_type),
                "encoding": r.encoding,
                "clock_rate": r.clock_rate,
                "channels": r.channels,
            }
            for r in m.rtpmaps
        ],
        "codec_names": [r.encoding for r in m.rtpmaps],
        "fmtp": [{"pt": f.format, "params": f.parameters} for f in m.fmtps],
        "rtcp_fb": [{"pt": f.payload_type, "value": f.value} for f in m.rtcp_feedback],
        "extmaps": [
            {"id": e.id, "direction": e.direction, "uri": e.uri, "attributes": e.attributes}
            for e in m.extmaps
        ],
        "extmap_allow_mixed": m.extmap_allow_mixed,
        "rtcp_mux": m.rtcp_mux,
        "rtcp_rsize": m.rtcp_rsize,
        "rtcp": rtcp,
        "msid": m.attribute_values("msid"),
        "ssrcs": m.ssrcs,
        "ssrc_groups": [{"semantics": g.semantics, "ssrcs": list(g.ssrcs)} for g in m.ssrc_groups],
        "rids": [{"id": r.id, "direction": r.direction, "params": r.parameters} for r in m.rids],
        "simulcast": m.attribute_values("simulcast"),
        "sctp_port": m.sctp_port,
        "max_message_size": m.max_message_size,
        "sctpmap": None
        if sctpmap is None
        else {"number": sctpmap.number, "app": sctpmap.app, "streams": sctpmap.streams},
        "bundle_only": m.bundle_only,
        "crypto_count": len(m.attribute_values("crypto")),
        "effective": {
            "ice_ufrag": m.effective_ice_ufrag(desc),
            "ice_pwd": m.effective_ice_pwd(desc),
            "fingerprints": _fingerprints(m.effective_fingerprints(desc)),
            "setup": m.effective_setup(desc),
            "connection": None
            if m.effective_connection(desc) is None
            else str(m.effective_connection(desc)),
            "direction": m.effective_direction(desc),
        },
    }


def _session_facts(d: SessionDescription) -> dict[str, Any]:
    o = d.origin
    bundles = d.bundle_groups
    return {
        "origin": {
            "username": o.username,
            "sess_id": str(o.session_id),
            "sess_version": str(o.session_version),
            "nettype": o.nettype,
            "addrtype": o.addrtype,
            "unicast_address": o.address,
        },
        "session_name": d.session_name,
        "timing": [f"{t.start} {t.stop}" for t in d.timings],
        "connection": None if d.connection is None else str(d.connection),
        "bandwidth": [str(b) for b in d.bandwidths],
        "ice_lite": d.ice_lite,
        "ice_ufrag": d.ice_ufrag,
        "ice_pwd": d.ice_pwd,
        "ice_options": d.attribute("ice-options"),
        "fingerprints": _fingerprints(d.fingerprints),
        "setup": d.setup,
        "direction": d.direction,
        "groups": [{"semantics": g.semantics, "mids": list(g.mids)} for g in d.groups],
        "bundle_mids": list(bundles[0].mids) if bundles else None,
        "extmap_allow_mixed": d.extmap_allow_mixed,
        "msid_semantic": d.msid_semantic,
    }


def _subset(expected: dict[str, Any], actual: dict[str, Any]) -> dict[str, Any]:
    return {k: expected[k] for k in actual if k in expected}


@pytest.mark.parametrize("name", _files("sdp"))
def test_corpus_sdp_facts(name: str) -> None:
    data, facts = _load("sdp", name)
    desc = SessionDescription.parse(data)
    session = _session_facts(desc)
    assert session == _subset(facts["session"], session)
    assert len(desc.media) == facts["media_count"]
    for m, expected in zip(desc.media, facts["media"], strict=True):
        actual = _media_facts(m, desc)
        assert actual == _subset(expected, actual), f"media {expected['index']}"
    # Lossless: parse → write → parse is equal, write is a fixed point, CRLF out.
    text = str(desc)
    again = SessionDescription.parse(text)
    assert again == desc
    assert str(again) == text
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    # Nothing is lost: every non-empty input line is written back (order may be restored
    # to RFC 8866 §5 order for misplaced c=/b= lines).
    in_lines = [x for x in data.decode().replace("\r\n", "\n").split("\n") if x]
    assert sorted(in_lines) == sorted(text.split("\r\n")[:-1])
    if name not in MISPLACED_C_LINES:
        assert text.split("\r\n")[:-1] == in_lines  # byte for byte, modulo line endings


@pytest.mark.parametrize("name", _files("sdp-bad"))
def test_corpus_bad_sdp_rejected(name: str) -> None:
    data, facts = _load("sdp-bad", name)
    assert facts["expectation"]
    with pytest.raises(ParseError) as info:
        SessionDescription.parse(data)
    assert info.value.line_number is not None and info.value.line_number >= 1
    assert info.value.reason


def test_corpus_bad_fingerprint_is_what_fails() -> None:
    """007 fails first on its ';' comment lines; its fingerprint line fails on its own too."""
    data, _ = _load("sdp-bad", "007-webrtc-sdp-example08-sha1-32-octets.sdp")
    lines = [x for x in data.decode().splitlines() if x.startswith("a=fingerprint:")]
    assert lines
    with pytest.raises(ParseError, match="sha-1 fingerprint has 32 octets"):
        Fingerprint.parse(lines[-1].partition(":")[2])
