"""``sdp explain`` and ``sdp check`` on the SDP classes they once got wrong (issue 17).

The SDPs are in tests/data/sdp (written for these tests in the formats the named
implementations and RFCs document; see its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrtcstack.sdp import SessionDescription
from pyrtcstack.sdp.check import Problem, check
from pyrtcstack.sdp.explain import explain

DATA = Path(__file__).parent / "data" / "sdp"
UNKNOWN = "an attribute this tool does not know"


def _load(name: str) -> SessionDescription:
    return SessionDescription.parse((DATA / name).read_bytes())


def _explain(name: str) -> str:
    return explain(_load(name))


def _messages(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def _explanation_of(text: str, line: str) -> str:
    """The explanation printed under ``line`` (up to the next SDP line)."""
    lines = text.splitlines()
    start = next(i for i, x in enumerate(lines) if x.strip() == line)
    out = []
    for x in lines[start + 1 :]:
        if not x.startswith("      "):
            break
        out.append(x.strip().lstrip("↳ "))
    return " ".join(out)


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.sdp")))
def test_every_file_parses_round_trips_and_is_explained(name: str) -> None:
    desc = _load(name)
    assert SessionDescription.parse(str(desc)) == desc
    text = explain(desc)
    assert "None" not in text  # no Python None leaks into the prose ("mid None", "apt=None")
    check(desc)


def test_timed_session_is_not_called_unbounded() -> None:
    text = _explain("sip-multicast-timed.sdp")
    t_line = _explanation_of(text, "t=3724394400 3724398000")
    assert "unbounded" not in t_line
    assert "2018-01-08 10:00:00 UTC" in t_line and "2018-01-08 11:00:00 UTC" in t_line
    assert "unbounded" in _explanation_of(_explain("bfcp-tls.sdp"), "t=0 0")


def test_sip_origin_address_is_not_called_a_placeholder() -> None:
    sip = _explanation_of(
        _explain("sip-multicast-timed.sdp"), "o=carol 3724394400 3724394405 IN IP4 198.51.100.7"
    )
    assert "placeholder" not in sip.split("(WebRTC")[0] and "198.51.100.7" in sip
    webrtc = _explanation_of(
        _explain("legacy-sctpmap.sdp"), "o=- 6729291447651054566 2 IN IP4 127.0.0.1"
    )
    assert "placeholder" in webrtc and "RFC 9429 §5.2.1" in webrtc


def test_ptime_label_and_source_filter_are_explained() -> None:
    sip = _explain("sip-multicast-timed.sdp")
    assert "20 ms" in _explanation_of(sip, "a=ptime:20")
    assert "RFC 4570" in _explanation_of(
        sip, "a=source-filter: incl IN IP4 233.252.0.12 198.51.100.7"
    )
    assert "RFC 4574" in _explanation_of(_explain("bfcp-tls.sdp"), "a=label:10")
    for name in ("sip-multicast-timed.sdp", "bfcp-tls.sdp", "mcptt-floor-control.sdp"):
        assert UNKNOWN not in _explain(name), name


def test_application_sections_that_are_not_data_channels() -> None:
    for name, protocol in (
        ("bfcp-tls.sdp", "TCP/TLS/BFCP"),
        ("mcptt-floor-control.sdp", "udp"),
    ):
        text = _explain(name)
        header = next(
            x for x in text.splitlines() if x.startswith("── media section") and "application" in x
        )
        assert "not a data channel" in header and protocol in header, header
        assert "data channels over SCTP" not in text
    # BFCP over TLS has no ICE: no ICE credential errors; its a=setup and fingerprint are fine
    assert [p for p in check(_load("bfcp-tls.sdp")) if p.severity == "error"] == []


def test_legacy_sctpmap_port_is_reported() -> None:
    text = _explain("legacy-sctpmap.sdp")
    assert "SCTP port 5001" in text and "SCTP port 5000" not in text


def test_rtp_savpf_with_fingerprint_gets_the_dtls_checks() -> None:
    problems = check(_load("legacy-savpf-bundle-setup.sdp"))
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1, _messages(problems)
    assert "BUNDLE audio video" in errors[0].message and "a=setup" in errors[0].message


def test_rtx_without_apt_says_so() -> None:
    problems = check(_load("rtx-without-apt.sdp"))
    [problem] = [p for p in problems if "rtx" in p.message]
    assert "no apt parameter" in problem.message and "None" not in problem.message


def test_sections_without_mid_are_named_without_none() -> None:
    text = _explain("no-mid.sdp")
    headers = [x for x in text.splitlines() if x.startswith("── media section")]
    assert headers and all("no a=mid" in h for h in headers), headers


def test_offer_answer_guess_is_stated_as_inferred() -> None:
    first = _explain("offer-missing-setup.sdp").splitlines()[0]
    assert "OFFER" in first and "inferred" in first and "a=setup:actpass" in first
    first = _explain("sip-no-connection.sdp").splitlines()[0]
    assert "nothing in it tells which" in first


def test_missing_setup_default_depends_on_offer_or_answer() -> None:
    offer = _messages(check(_load("offer-missing-setup.sdp")))
    assert "in an offer (inferred" in offer and "'active'" in offer
    answer = _messages(check(_load("answer-missing-setup.sdp"), "answer"))
    assert "in an answer the default 'passive'" in answer
    unknown = _messages(check(_load("answer-missing-setup.sdp")))
    assert "'active' in an offer and 'passive' in an answer" in unknown


def test_missing_connection_line_is_flagged() -> None:
    problems = check(_load("sip-no-connection.sdp"))
    assert any(p.rule == "RFC 8866 §5.7" for p in problems), _messages(problems)
    for name in ("sip-multicast-timed.sdp", "legacy-sctpmap.sdp", "bfcp-tls.sdp"):
        assert not any(p.rule == "RFC 8866 §5.7" for p in check(_load(name))), name


def test_dup_group_is_rfc_7104() -> None:
    text = _explain("dup-group.sdp")
    assert "RFC 7104" in _explanation_of(text, "a=group:DUP S1a S1b")
