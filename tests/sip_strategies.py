"""Hypothesis strategies for SIP values and messages (shared by the SIP tests)."""

from __future__ import annotations

import string

from hypothesis import strategies as st

from pyrtcstack.sip import CSeq, NameAddress, Request, Response, SipUri, Via
from pyrtcstack.sip.grammar import TOKEN_CHARS, WORD_CHARS, quote

TOKEN = "".join(sorted(TOKEN_CHARS))
tokens = st.text(TOKEN, min_size=1, max_size=10)
label = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
hostnames = st.lists(label, min_size=1, max_size=4).map(".".join)
hosts = st.one_of(
    hostnames,
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
ports = st.none() | st.integers(0, 65535)


def _escaped(chars: str) -> st.SearchStrategy[str]:
    piece = st.one_of(
        st.sampled_from(list(chars)),
        st.tuples(
            st.sampled_from("0123456789ABCDEFabcdef"), st.sampled_from("0123456789abcdef")
        ).map(lambda p: "%" + "".join(p)),
    )
    return st.lists(piece, min_size=1, max_size=8).map("".join)


_UNRESERVED = string.ascii_letters + string.digits + "-_.!~*'()"
uri_params = st.lists(
    st.tuples(_escaped(_UNRESERVED + "[]/:&+$"), st.none() | _escaped(_UNRESERVED + "[]/:&+$")),
    max_size=3,
).map(tuple)
sip_uris = st.builds(
    SipUri,
    host=hosts,
    user=st.none() | _escaped(_UNRESERVED + "&=+$,;?/"),
    password=st.none(),
    port=ports,
    params=uri_params,
    headers=st.lists(
        st.tuples(_escaped(_UNRESERVED + "[]/?:+$"), _escaped(_UNRESERVED + "[]/?:+$")), max_size=2
    ).map(tuple),
    scheme=st.sampled_from(["sip", "sips"]),
)
# a password only with a user
sip_uris = st.one_of(
    sip_uris,
    st.builds(
        lambda u, user, pw: SipUri(u.host, user, pw, u.port, u.params, u.headers, u.scheme),
        sip_uris,
        _escaped(_UNRESERVED),
        st.text(_UNRESERVED + "&=+$,", max_size=6),
    ),
)
_no_crlf = st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n")
header_params = st.lists(
    st.tuples(
        tokens,
        st.none()
        | st.text(TOKEN + "[]:", min_size=1, max_size=8)
        | st.text(_no_crlf, max_size=8).map(quote),
    ),
    max_size=3,
).map(tuple)
vias = st.builds(
    Via,
    transport=st.sampled_from(["UDP", "TCP", "TLS", "SCTP", "WS", "WSS"]),
    host=hosts,
    port=ports,
    params=header_params,
)
name_addresses = st.builds(
    NameAddress,
    uri=sip_uris.map(str),
    display=st.none() | st.text(_no_crlf, max_size=12),
    params=header_params,
)
call_ids = st.tuples(
    st.text("".join(sorted(WORD_CHARS)), min_size=1, max_size=16),
    st.none() | st.text("".join(sorted(WORD_CHARS)), min_size=1, max_size=8),
).map(lambda p: p[0] if p[1] is None else f"{p[0]}@{p[1]}")
extension_values = st.text(_no_crlf, max_size=30).map(lambda s: s.strip(" \t"))
extensions = st.lists(st.tuples(tokens.map(lambda t: "X-" + t), extension_values), max_size=4)


@st.composite
def common_headers(draw: st.DrawFn, method: str) -> list[tuple[str, str]]:
    headers = [("Via", str(v)) for v in draw(st.lists(vias, min_size=1, max_size=3))]
    headers += [
        ("From", str(draw(name_addresses))),
        ("To", str(draw(name_addresses))),
        ("Call-ID", draw(call_ids)),
        ("CSeq", str(CSeq(draw(st.integers(0, 2**31 - 1)), method))),
    ]
    headers += [("Contact", str(c)) for c in draw(st.lists(name_addresses, max_size=2))]
    headers += draw(extensions)
    return headers


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(tokens)
    uri = draw(sip_uris)
    uri = SipUri(uri.host, uri.user, uri.password, uri.port, uri.params, (), uri.scheme)
    headers = draw(common_headers(method))
    headers.append(("Max-Forwards", str(draw(st.integers(0, 255)))))
    order = draw(st.permutations(range(len(headers))))
    # Via order matters (topmost first): keep the Vias' relative order
    vias_first = [headers[i] for i in range(len(headers)) if headers[i][0] == "Via"]
    rest = [headers[i] for i in order if headers[i][0] != "Via"]
    return Request(method, str(uri), tuple(vias_first + rest), draw(st.binary(max_size=64)))


@st.composite
def responses(draw: st.DrawFn) -> Response:
    headers = draw(common_headers(draw(tokens)))
    reason = draw(st.text(_no_crlf, max_size=20))
    return Response(
        draw(st.integers(100, 699)), reason, tuple(headers), draw(st.binary(max_size=64))
    )


messages = st.one_of(requests(), responses())
