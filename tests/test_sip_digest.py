"""SIP digest authentication (RFC 3261 §22.4, RFC 7616, RFC 8760) against the RFC vectors."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrtcstack.sip import SipParseError
from pyrtcstack.sip.digest import DigestChallenge, DigestClient, choose_challenge, digest_response

# RFC 7616 §3.9.1 (the same request answered with MD5 and with SHA-256)
RFC7616 = {
    "username": "Mufasa",
    "password": "Circle of Life",
    "realm": "http-auth@example.org",
    "method": "GET",
    "uri": "/dir/index.html",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "nc": "00000001",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    "qop": "auth",
}


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_vectors(algorithm: str, expected: str) -> None:
    v = RFC7616
    response = digest_response(
        algorithm, username=v["username"], password=v["password"], realm=v["realm"],
        method=v["method"], uri=v["uri"], nonce=v["nonce"], nc=v["nc"], cnonce=v["cnonce"],
        qop=v["qop"],
    )  # fmt: skip
    assert response == expected


def test_rfc2617_vector() -> None:
    # RFC 2617 §3.5 (the MD5 example RFC 3261 §22.4 builds on)
    response = digest_response(
        "MD5", username="Mufasa", realm="testrealm@host.com", password="Circle Of Life",
        method="GET", uri="/dir/index.html", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        nc="00000001", cnonce="0a4f113b", qop="auth",
    )  # fmt: skip
    assert response == "6629fae49393a05397450978507c4ef1"


def test_the_variants_follow_the_formulas() -> None:
    import hashlib

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5("u:r:p")
    ha2 = md5("REGISTER:sip:r")
    # no qop: RFC 2617 §3.2.2.1 compatibility form
    assert digest_response(
        "MD5", username="u", realm="r", password="p", method="REGISTER", uri="sip:r", nonce="n"
    ) == md5(f"{ha1}:n:{ha2}")
    sess = md5(f"{ha1}:n:c")
    assert digest_response(
        "MD5-sess", username="u", realm="r", password="p", method="REGISTER", uri="sip:r",
        nonce="n", nc="00000001", cnonce="c", qop="auth",
    ) == md5(f"{sess}:n:00000001:c:auth:{ha2}")  # fmt: skip
    int_ha2 = md5(f"REGISTER:sip:r:{md5('')}")
    assert digest_response(
        "MD5", username="u", realm="r", password="p", method="REGISTER", uri="sip:r",
        nonce="n", nc="00000001", cnonce="c", qop="auth-int",
    ) == md5(f"{ha1}:n:00000001:c:auth-int:{int_ha2}")  # fmt: skip


def test_challenge_parsing_and_choice() -> None:
    md5 = DigestChallenge.parse(
        'Digest realm="atlanta.example.com", qop="auth,auth-int", '
        'nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="", stale=FALSE, algorithm=MD5'
    )
    assert (md5.realm, md5.nonce, md5.algorithm, md5.qop, md5.opaque, md5.stale) == (
        "atlanta.example.com", "ea9c8e88df84f1cec4341ae6cbe5a359", "MD5", ("auth", "auth-int"),
        "", False,
    )  # fmt: skip
    sha = DigestChallenge.parse('Digest realm="a", nonce="b", algorithm=SHA-256, stale=true')
    assert sha.stale and DigestChallenge.parse('digest realm="a",nonce="b"').algorithm == "MD5"
    unknown = DigestChallenge.parse('Digest realm="a", nonce="b", algorithm=SHA-1024')
    # RFC 8760 §2.4: the strongest algorithm the client supports
    assert choose_challenge([md5, sha, unknown]) is sha
    assert choose_challenge([unknown]) is None
    for bad in ('Basic realm="a"', 'Digest realm="a"', 'Digest nonce="b"',
                'Digest realm="a, nonce="b"', 'Digest realm="a" x, nonce="b"',
                "Digest realm=a b, nonce=c"):  # fmt: skip
        with pytest.raises(SipParseError):
            DigestChallenge.parse(bad)


def test_client_counts_per_nonce_and_quotes_everything() -> None:
    client = DigestClient("alice", "s3cret", rng=random.Random(1))
    assert "s3cret" not in repr(client)
    challenge = DigestChallenge.parse(
        'Digest realm="example.com", nonce="n1", qop="auth", algorithm=SHA-256, opaque="op"'
    )
    first = client.authorization(challenge, "REGISTER", "sip:example.com")
    second = client.authorization(challenge, "REGISTER", "sip:example.com")
    assert "nc=00000001" in first and "nc=00000002" in second
    pairs = (p.split("=", 1) for p in first.removeprefix("Digest ").split(", "))
    fields = {k.strip(): v.strip('"') for k, v in pairs}
    assert (fields["opaque"], fields["algorithm"], fields["qop"]) == ("op", "SHA-256", "auth")
    assert fields["response"] == digest_response(
        "SHA-256", username="alice", realm="example.com", password="s3cret",
        method="REGISTER", uri="sip:example.com", nonce="n1", nc="00000001",
        cnonce=fields["cnonce"], qop="auth",
    )  # fmt: skip
    # a challenge without qop: no nc, no cnonce (RFC 2617 form)
    plain = client.authorization(DigestChallenge("r", "n2"), "INVITE", "sip:bob@r")
    assert "nc=" not in plain and "cnonce=" not in plain
    with pytest.raises(ValueError, match="unsupported"):
        client.authorization(DigestChallenge("r", "n", "SHA-1024"), "INVITE", "sip:b@r")
    with pytest.raises(ValueError):
        DigestClient('ali"ce', "x")


_QDTEXT = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters='\r\n"\\'), max_size=12
)


@given(_QDTEXT, _QDTEXT, st.sampled_from(["MD5", "SHA-256", "SHA-512-256-sess"]),
       st.lists(st.sampled_from(["auth", "auth-int"]), max_size=2, unique=True),
       st.none() | _QDTEXT, st.booleans())  # fmt: skip
def test_challenge_round_trip(
    realm: str, nonce: str, algorithm: str, qop: list[str], opaque: str | None, stale: bool
) -> None:
    parts = [f'realm="{realm}"', f'nonce="{nonce}"', f"algorithm={algorithm}"]
    if qop:
        parts.append(f'qop="{",".join(qop)}"')
    if opaque is not None:
        parts.append(f'opaque="{opaque}"')
    parts.append(f"stale={'TRUE' if stale else 'FALSE'}")
    got = DigestChallenge.parse("Digest " + ", ".join(parts))
    assert got == DigestChallenge(realm, nonce, algorithm.upper(), tuple(qop), opaque, stale)


@given(st.text(max_size=80))
def test_challenge_parser_raises_only_sip_parse_error(text: str) -> None:
    try:
        DigestChallenge.parse("Digest " + text)
    except SipParseError:
        pass
