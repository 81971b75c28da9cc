"""SIP over WebSocket, RFC 7118: the §5.2 Via and Contact of a WebSocket client (a random
``.invalid`` host from the injected generator, ``;transport=ws``), requests reaching a
client over the connection it opened, and ``wss://`` (WebSocket over TLS) with a CA made
here: a call between two SipPhones, a certificate refused (the call fails at once, with
the reason), and ``pyrtcstack sip call/listen --transport wss``."""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from peers import PROJECT

from pyrtcstack.aio.sip import SipCallError, SipPhone
from pyrtcstack.sip import Request, UserAgent, parse_message
from tests.test_cli_wss import make_ca

OFFER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
ANSWER = OFFER.replace(b"o=- 1", b"o=- 2")


def _sent_invite(agent: UserAgent) -> Request:
    agent.invite("sip:bob@192.0.2.1;transport=ws", ("192.0.2.1", 80), 0.0, OFFER)
    ((data, _),) = agent.datagrams_to_send(0.0)
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


def test_a_websocket_agent_names_a_random_invalid_host_from_its_generator() -> None:
    invite = _sent_invite(UserAgent(("127.0.0.1", 5060), transport="WS", rng=random.Random(3)))
    again = _sent_invite(UserAgent(("127.0.0.1", 5060), transport="WS", rng=random.Random(3)))
    other = _sent_invite(UserAgent(("127.0.0.1", 5060), transport="WSS", rng=random.Random(4)))
    via = invite.vias[0]
    assert via.transport == "WS" and via.host.endswith(".invalid") and via.port is None
    assert len(via.host) == len("x" * 12 + ".invalid")
    assert via.host == again.vias[0].host  # from the injected generator
    (contact,) = invite.contacts
    assert contact.sip_uri().host == via.host and contact.sip_uri().param("transport") == "ws"
    # WSS: the same shape; §7 registers only transport=ws
    assert other.vias[0].transport == "WSS" and other.vias[0].host != via.host
    assert other.contacts[0].sip_uri().param("transport") == "ws"
    # UDP and TCP keep our address
    udp = _sent_invite(UserAgent(("127.0.0.1", 5060), rng=random.Random(3)))
    assert (udp.vias[0].host, udp.vias[0].port) == ("127.0.0.1", 5060)


async def _callee_hangs_up(
    transport: str,
    server_ssl: ssl.SSLContext | None = None,
    client_ssl: ssl.SSLContext | None = None,
) -> tuple[Request, bool]:
    """Alice (a client: her Contact is .invalid) calls Bob; Bob hangs up, so his BYE must
    reach Alice over the connection she opened."""
    bob = await SipPhone.open(user="bob", transport=transport, server_ssl=server_ssl)
    alice = await SipPhone.open(user="alice", transport=transport, client_ssl=client_ssl)
    try:

        async def callee() -> tuple[Request, str]:
            call = await bob.incoming()
            await bob.answer(call.call_id, ANSWER, timeout=10)
            return call.request, call.call_id

        task = asyncio.ensure_future(callee())
        call_id, answer = await alice.call(
            f"sip:bob@127.0.0.1:{bob.local[1]};transport=ws", bob.local, OFFER, timeout=10
        )
        request, bob_call = await asyncio.wait_for(task, 10)
        assert answer == ANSWER
        await bob.hang_up(bob_call, timeout=10)
        return request, await alice.wait_ended(call_id, timeout=10)
    finally:
        alice.close()
        bob.close()


def test_a_bye_reaches_a_websocket_client_over_its_own_connection() -> None:
    request, by_remote = asyncio.run(_callee_hangs_up("WS"))
    assert request.vias[0].host.endswith(".invalid")
    assert request.contacts[0].sip_uri().host == request.vias[0].host
    assert by_remote  # Alice saw Bob's BYE although her Contact names no address


def _contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext, Path]:
    ca, cert, key = make_ca(tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(ca)), ca


def test_a_call_over_wss(tmp_path: Path) -> None:
    server, client, _ = _contexts(tmp_path)
    request, by_remote = asyncio.run(_callee_hangs_up("WSS", server, client))
    assert request.vias[0].transport == "WSS" and by_remote


async def _refused(server: ssl.SSLContext) -> tuple[SipCallError, str | None, float]:
    bob = await SipPhone.open(user="bob", transport="WSS", server_ssl=server)
    alice = await SipPhone.open(user="alice", transport="WSS")  # the system store
    try:
        started = time.monotonic()
        with pytest.raises(SipCallError) as failed:
            await alice.call(f"sips:bob@127.0.0.1:{bob.local[1]}", bob.local, OFFER, timeout=30)
        return failed.value, getattr(alice.endpoint, "last_error", None), time.monotonic() - started
    finally:
        alice.close()
        bob.close()


def test_an_unknown_certificate_fails_the_call_at_once_with_the_reason(tmp_path: Path) -> None:
    server, _, _ = _contexts(tmp_path)
    error, reason, took = asyncio.run(_refused(server))
    assert error.status == 408 and took < 10  # not Timer B's 32 s
    assert reason is not None and "certificate" in reason and reason.startswith("wss://127.0.0.1")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sip_call_and_listen_over_wss(tmp_path: Path) -> None:
    ca, cert, key = make_ca(tmp_path)
    port = _free_port()
    cli = [sys.executable, "-m", "pyrtcstack", "sip"]
    listen = subprocess.Popen(
        [*cli, "listen", f"127.0.0.1:{port}", "--once", "--transport", "wss",
         "--cert", str(cert), "--key", str(key)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT,
    )  # fmt: skip
    try:
        assert listen.stdout is not None
        first = listen.stdout.readline().decode()
        assert first == f"listening on sip:pyrtcstack@127.0.0.1:{port} over WSS\n"
        target = f"sip:bob@127.0.0.1:{port}"
        refused = subprocess.run(
            [*cli, "call", target, "--transport", "wss", "--timeout", "20"],
            capture_output=True, cwd=PROJECT, timeout=60, check=False,
        )  # fmt: skip
        lines = refused.stderr.decode().strip().splitlines()
        assert refused.returncode == 1 and len(lines) == 1, refused.stderr.decode()
        assert lines[0].startswith(
            f"pyrtcstack sip call: call failed: cannot connect to wss://127.0.0.1:{port}: TLS"
        )
        assert "certificate" in lines[0]
        call = subprocess.run(
            [*cli, "call", target, "--transport", "wss", "--ca", str(ca), "--duration", "0.2"],
            capture_output=True, cwd=PROJECT, timeout=60, check=False,
        )  # fmt: skip
        assert call.returncode == 0, call.stderr.decode()
        assert call.stdout.decode().splitlines()[-1] == "hung up"
        rest, errors = listen.communicate(timeout=30)
        assert listen.returncode == 0
        assert rest.decode().splitlines()[-1].endswith(" ended")
        assert b"Traceback" not in errors, errors.decode()  # the refused client
    finally:
        if listen.poll() is None:
            listen.kill()
            listen.wait()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["listen", "--transport", "wss"], "--transport wss needs --cert and --key"),
        (["listen", "--cert", "c.pem"], "--cert and --key go together"),
        (["listen", "--transport", "wss", "--cert", "nope.pem", "--key", "nope.pem"],
         "no such certificate or key file: 'nope.pem'"),
        (["call", "sip:a@127.0.0.1", "--ca", "ca.pem"], "--ca goes with --transport wss"),
        (["call", "sip:a@127.0.0.1", "--transport", "wss", "--ca", "nope.pem"],
         "no such CA file: 'nope.pem'"),
    ],
)  # fmt: skip
def test_wss_mistakes_get_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pyrtcstack", "sip", *args],
        capture_output=True, cwd=tmp_path, timeout=30, check=False,
        env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], lines


async def _named(server: ssl.SSLContext, client: ssl.SSLContext) -> str | None:
    bob = await SipPhone.open(user="bob", transport="WSS", server_ssl=server)
    alice = await SipPhone.open(user="alice", transport="WSS", client_ssl=client)
    try:
        # found by DNS under a name the certificate does not carry (RFC 3263, RFC 6125)
        alice.endpoint.server_names[bob.local] = "sip.example.org"  # type: ignore[union-attr]
        with pytest.raises(SipCallError):
            await alice.call("sip:bob@sip.example.org", bob.local, OFFER, timeout=30)
        return getattr(alice.endpoint, "last_error", None)
    finally:
        alice.close()
        bob.close()


def test_the_certificate_must_name_the_host_dns_found_the_server_under(tmp_path: Path) -> None:
    server, client, _ = _contexts(tmp_path)
    reason = asyncio.run(_named(server, client))
    assert reason is not None and "sip.example.org" in reason, reason
