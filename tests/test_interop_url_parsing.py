"""The URL harness's own parsing: HTTP responses from an endpoint and long-poll answers.
Valid input round-trips; hostile bytes give only EndpointError; the atheris harness
fuzz/fuzz_interop_http.py runs over seeds and mutations."""

from __future__ import annotations

import importlib.util
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.interop.remote import EndpointError, checked_messages, parse_response
from tests.peers import PROJECT

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


def _response(body: bytes, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n".encode()
        + extra
        + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        + body
    )


@given(json_values, st.binary(max_size=30))
def test_a_json_body_round_trips(value: Any, trailing: bytes) -> None:
    body = json.dumps(value).encode()
    # Bytes after Content-Length are not part of the body.
    assert parse_response(_response(body) + trailing) == value


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_hostile_bytes_give_only_endpoint_error(data: bytes) -> None:
    for raw in (data, _response(data), b"HTTP/1.1 200 OK\r\n" + data):
        try:
            value = parse_response(raw)
        except EndpointError:
            continue
        try:
            checked_messages(value)
        except EndpointError:
            pass


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (_response(b"gone", "404 Not Found"), "HTTP 404 gone"),
        (_response(b"{}", "503 Busy"), "HTTP 503"),
        (_response(b"not json"), "not JSON"),
        (_response(b"[" * 100_000), "not JSON"),
        (_response(b"{}", extra=b"Transfer-Encoding: chunked\r\n"), "chunked"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n{}", "Content-Length"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP response"),
        (b"HTTP/1.1 200 OK\r\n", "not an HTTP response"),
    ],
)
def test_refused_responses_say_why(raw: bytes, match: str) -> None:
    with pytest.raises(EndpointError, match=match):
        parse_response(raw, "GET http://x/")


def test_checked_messages() -> None:
    ok = {"messages": [{"seq": 1, "kind": "state", "state": "new"}]}
    assert checked_messages(ok) == ok["messages"]
    for bad in (
        None,
        [],
        {"messages": "x"},
        {"messages": [1]},
        {"messages": [{"seq": "1", "kind": "a"}]},
        {"messages": [{"seq": True, "kind": "a"}]},
        {"messages": [{"seq": 1}]},
    ):
        with pytest.raises(EndpointError):
            checked_messages(bad)


def test_fuzz_harness_runs_over_seeds() -> None:
    path = PROJECT / "fuzz" / "fuzz_interop_http.py"
    spec = importlib.util.spec_from_file_location("fuzz_interop_http", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seeds = [
        b"",
        _response(b'{"messages": [{"seq": 1, "kind": "open"}]}'),
        _response(b'{"protocol": "pyrtcstack-interop/1"}'),
        b'{"messages": []}',
        _response(b"x", "500 Oops"),
    ]
    rng = random.Random(7)
    for seed in seeds:
        module.TestOneInput(seed)
        for _ in range(50):
            data = bytearray(seed)
            for _ in range(rng.randint(1, 4)):
                if data and rng.random() < 0.5:
                    data[rng.randrange(len(data))] = rng.randrange(256)
                else:
                    data.insert(rng.randint(0, len(data)), rng.randrange(256))
            module.TestOneInput(bytes(data))
