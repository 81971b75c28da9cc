"""``pyrtcstack.sip.describe``: one line per SIP message for the trace, secrets never shown."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from sip_strategies import messages

from pyrtcstack.sip import DigestChallenge, DigestClient, Request, Response, describe

_HEAD = (
    ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc"),
    ("From", "<sip:alice@example.com>;tag=a1"),
    ("To", "<sip:bob@example.com>"),
    ("Call-ID", "3f2ab9c1d0e4@192.0.2.1"),
    ("CSeq", "1 INVITE"),
)
_OFFER = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    b"a=fingerprint:sha-256 " + b":".join([b"AB"] * 32) + b"\r\n"
    b"m=audio 40000 UDP/TLS/RTP/SAVPF 0 8\r\na=ice-ufrag:abcd\r\na=ice-pwd:" + b"p" * 22 + b"\r\n"
    b"a=setup:actpass\r\na=candidate:1 1 udp 2130706431 192.0.2.1 40000 typ host\r\n"
    b"a=candidate:2 1 udp 2130706431 192.0.2.1 40002 typ host\r\n"
)


def _line(text: str) -> None:
    assert isinstance(text, str)
    assert "\n" not in text and "\r" not in text and "\x1b" not in text, text


def test_invite_with_an_sdp_offer() -> None:
    invite = Request(
        "INVITE", "sip:bob@example.com", (*_HEAD, ("Content-Type", "application/sdp")), _OFFER
    )
    text = describe(invite)
    assert text == describe(invite.encode())
    assert text.startswith("SIP INVITE sip:bob@example.com (start a call, RFC 3261 §13)")
    assert "Call-ID 3f2ab9c1…" in text and "CSeq 1" in text
    assert (
        "SDP offer: audio 40000 UDP/TLS/RTP/SAVPF PCMU/8000,PCMA/8000 ICE 2 candidates "
        "DTLS setup actpass" in text
    )


def test_responses_name_the_method_they_answer() -> None:
    head = tuple((n, v + ";tag=b2") if n == "To" else (n, v) for n, v in _HEAD)
    assert describe(Response(180, "Ringing", head)).startswith(
        "SIP 180 Ringing to INVITE (the callee is alerted, §13.3.1.1)"
    )
    ok = Response(200, "OK", (*head, ("Content-Type", "application/sdp")), _OFFER)
    assert "SDP answer: audio 40000" in describe(ok)
    bye = tuple((n, "2 BYE") if n == "CSeq" else (n, v) for n, v in head)
    assert describe(Response(200, "OK", bye)).startswith("SIP 200 OK to BYE (success, §21.2)")
    # a request in the dialog (the To tag): a re-INVITE
    assert describe(Request("INVITE", "sip:bob@192.0.2.2", head, b"")).startswith(
        "SIP re-INVITE sip:bob@192.0.2.2 (a new offer in the call, RFC 3261 §14)"
    )


def test_offerless_invite_and_other_bodies() -> None:
    assert "an offerless INVITE" in describe(Request("INVITE", "sip:b@example.com", _HEAD))
    text = describe(
        Request("INVITE", "sip:b@example.com", (*_HEAD, ("Content-Type", "text/plain")), b"hi")
    )
    assert text.endswith("2 B of text/plain")
    bad = Request(
        "INVITE", "sip:b@example.com", (*_HEAD, ("Content-Type", "application/sdp")), b"v=9"
    )
    assert describe(bad).endswith("SDP offer that does not parse (3 B)")


def test_challenge_and_credentials_without_secrets() -> None:
    """The 401's challenge is shown; the retry's credentials show who, never the proof,
    and the password is in no line (RFC 7616 §3.4)."""
    value = 'Digest realm="example.com", nonce="n0nce", qop="auth", algorithm=SHA-256'
    head = tuple((n, "1 REGISTER") if n == "CSeq" else (n, v) for n, v in _HEAD)
    challenge = Response(401, "Unauthorized", (*head, ("WWW-Authenticate", value)))
    assert describe(challenge) == (
        "SIP 401 Unauthorized to REGISTER (a digest challenge, §22.2), Call-ID 3f2ab9c1…, "
        'CSeq 1, challenge Digest realm "example.com" SHA-256 qop auth'
    )
    password = "correct horse battery staple"
    client = DigestClient("alice", password, rng=random.Random(1))
    auth = client.authorization(DigestChallenge.parse(value), "REGISTER", "sip:example.com")
    response = auth.split('response="')[1].split('"')[0]
    cnonce = auth.split('cnonce="')[1].split('"')[0]
    retry = Request("REGISTER", "sip:example.com", (*head, ("Authorization", auth)))
    text = describe(retry)
    assert 'credentials Digest username "alice" realm "example.com" algorithm SHA-256' in text
    for secret in (response, cnonce, "n0nce", password):
        assert secret not in text
    assert secret not in describe(retry.encode())


def test_a_password_in_the_request_uri_is_hidden() -> None:
    text = describe(Request("INVITE", "sip:bob:hunter2@example.com", _HEAD))
    assert "hunter2" not in text and "sip:bob:…@example.com" in text
    text = describe(Request("INVITE", "tel:bob:hunter2@example.com", _HEAD))
    assert "hunter2" not in text


def test_bytes_that_are_not_a_message() -> None:
    assert describe(b"\r\n\r\n") == "CRLF keep-alive, 4 B (RFC 5626 §3.5.1)"
    text = describe(b"INVITE \x1b[31mred SIP/2.0\r\n\r\n")
    _line(text)
    assert text.startswith("malformed SIP, ")


def test_hostile_text_is_escaped_and_clipped() -> None:
    head = (*_HEAD[:3], ("Call-ID", "x" * 500), _HEAD[4])
    text = describe(Response(486, "Busy\x1b[2J" + "y" * 500, head))
    _line(text)
    assert "\\x1b[2J" in text and len(text) < 400
    assert "y" * 65 not in text  # clipped at describe's MAX_TEXT (64)


@settings(max_examples=300, deadline=None)
@given(messages)
def test_any_message_gives_one_line(message: Request | Response) -> None:
    for form in (message, message.encode()):
        text = describe(form)
        _line(text)
        assert text.startswith("SIP ")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_one_line(data: bytes) -> None:
    _line(describe(data))


@settings(max_examples=100, deadline=None)
@given(
    st.text(min_size=8, max_size=40).map(lambda p: "Ѫ" + p),  # Ѫ: in no line
    st.sampled_from(["MD5", "SHA-256", "SHA-512-256", "SHA-256-sess"]),
    st.sampled_from(['qop="auth"', 'qop="auth-int"', ""]),
)
def test_credentials_never_show_the_proof(password: str, algorithm: str, qop: str) -> None:
    value = f'Digest realm="r", nonce="abc", algorithm={algorithm}' + (f", {qop}" if qop else "")
    client = DigestClient("alice", password, rng=random.Random(2))
    auth = client.authorization(DigestChallenge.parse(value), "INVITE", "sip:b@example.com")
    response = auth.split('response="')[1].split('"')[0]
    for field in ("Authorization", "Proxy-Authorization"):
        text = describe(Request("INVITE", "sip:b@example.com", (*_HEAD, (field, auth))))
        assert response not in text and password not in text


_attribute = st.one_of(
    st.sampled_from(
        [
            "a=ice-ufrag:abcd",
            "a=setup:actpass",
            "a=rtpmap:96 opus/48000/2",
            "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
            "a=rtpmap:0 PCMU/8000",
            "a=candidate:1 1 udp 1 192.0.2.1 9 typ host",
            "c=IN IP4 192.0.2.1",
        ]
    ),
    st.text(
        st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=30
    ).map(lambda t: "a=" + t),
)
_section = st.tuples(
    st.builds(
        "m={} {} {} {}".format,
        st.sampled_from(["audio", "video", "application", "\x1bx", "a" * 80]),
        st.integers(0, 65535),
        st.sampled_from(["RTP/AVP", "UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP", "\x1b[2J"]),
        st.lists(st.integers(0, 127).map(str), min_size=1, max_size=5).map(" ".join),
    ),
    st.lists(_attribute, max_size=6),
).map(lambda s: [s[0], *s[1]])
_sdp_lines = st.tuples(st.lists(_attribute, max_size=3), st.lists(_section, max_size=6)).map(
    lambda p: (
        ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0", *p[0]]
        + [line for section in p[1] for line in section]
    )
)


@settings(max_examples=300, deadline=None)
@given(_sdp_lines, st.booleans())
def test_any_sdp_body_gives_one_line(lines: list[str], response: bool) -> None:
    """The SDP summary reads an SDP from the peer: any lines, one line out (RFC 8866)."""
    body = ("\r\n".join(lines) + "\r\n").encode()
    head = (*_HEAD, ("Content-Type", "application/sdp"))
    message: Request | Response = (
        Response(200, "OK", head, body) if response else Request("INVITE", "sip:b@x", head, body)
    )
    text = describe(message)
    _line(text)
    assert ("SDP answer" if response else "SDP offer") in text
