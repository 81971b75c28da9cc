"""RFC 3263 against a real DNS server: Debian's dnsmasq on loopback (run inside ``unshare
-n``) serving NAPTR, SRV and A records for example.test, our asyncio resolver
(pyrtcstack.aio.dns) asking it, and ``sip call sip:bob@example.test`` reaching our ``sip
listen`` on the SRV's port (after a 503 from SIPp on the first SRV target, RFC 3263 §4.3).
Mandatory in CI (dnsmasq, SIPp). Also a hostile UDP "server" (spoofed, malformed and late
answers), timeouts and refused ports, and the CLI's one-line mistakes."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from peers import PROJECT, peer_missing, require_binary

from pyrtcstack.aio import DnsLookupError, DnsResolver, locate_sip_server
from pyrtcstack.dns import (
    NAPTR,
    SRV,
    TYPE_A,
    TYPE_NAPTR,
    TYPE_SRV,
    A,
    Message,
    Opaque,
    Record,
    answers_for,
)
from pyrtcstack.sip import SipTarget

SCENARIOS = Path(__file__).parent / "data" / "sip" / "sipp"
D = "example.test"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dnsmasq_binary() -> str:
    path = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")
    if path is None:
        peer_missing("dnsmasq not found (Debian package 'dnsmasq-base')")
    return path


@contextmanager
def dnsmasq(*records: str) -> Iterator[tuple[str, int]]:
    """dnsmasq on 127.0.0.1:<free port> serving ``records`` (its options) and nothing
    else: no upstream (--no-resolv), no /etc/hosts, example.test answered locally."""
    port = free_port()
    user = ["--user=root"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(
        [dnsmasq_binary(), "--keep-in-foreground", "--no-resolv", "--no-hosts",
         "--no-poll", f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
         "--pid-file=", "--log-facility=-", f"--local=/{D}/", "--conf-file=/dev/null",
         *user, *records],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        server = ("127.0.0.1", port)

        async def ready() -> None:
            probe = DnsResolver([server], timeout=0.2, attempts=1)
            for _ in range(50):
                try:
                    await probe.query(D, TYPE_A)
                    return
                except DnsLookupError:
                    await asyncio.sleep(0.1)
            raise AssertionError("dnsmasq does not answer")

        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "dnsmasq died")
        asyncio.run(ready())
        yield server
    finally:
        proc.terminate()
        proc.wait(10)


RECORDS = (
    f"--naptr-record={D},20,50,s,SIP+D2T,,_sip._tcp.{D}",
    f"--naptr-record={D},10,50,s,SIP+D2U,,_sip._udp.{D}",
    f"--host-record=sip1.{D},127.0.0.1",
    f"--host-record=sip2.{D},127.0.0.1",
    f"--txt-record=big.{D}," + ",".join(["x" * 250] * 4),  # > 512 octets: TC over UDP
)


def test_our_resolver_reads_dnsmasq() -> None:
    srv = (f"--srv-host=_sip._udp.{D},sip1.{D},5070,10,60",
           f"--srv-host=_sip._udp.{D},sip2.{D},5071,20,0")  # fmt: skip
    with dnsmasq(*RECORDS, *srv) as server:

        async def main() -> None:
            resolver = DnsResolver([server])
            naptr = await resolver.query(D, TYPE_NAPTR)
            assert sorted(answers_for(naptr, D, TYPE_NAPTR), key=lambda n: n.order) == [  # type: ignore[union-attr]
                NAPTR(10, 50, "s", "SIP+D2U", "", f"_sip._udp.{D}"),
                NAPTR(20, 50, "s", "SIP+D2T", "", f"_sip._tcp.{D}"),
            ]
            srv_answer = await resolver.query(f"_sip._udp.{D}", TYPE_SRV)
            assert set(answers_for(srv_answer, f"_sip._udp.{D}", TYPE_SRV)) == {
                SRV(10, 60, 5070, f"sip1.{D}"), SRV(20, 0, 5071, f"sip2.{D}"),
            }  # fmt: skip
            assert answers_for(await resolver.query(f"sip1.{D}", TYPE_A), f"sip1.{D}", TYPE_A) == [
                A("127.0.0.1")
            ]
            nx = await resolver.query(f"nope.{D}", TYPE_A)
            assert nx.rcode_name == "NXDOMAIN"
            # TC over UDP: asked again over TCP, the whole TXT record comes back
            big = await resolver.query(f"big.{D}", 16)
            assert not big.truncated
            txt = answers_for(big, f"big.{D}", 16)
            assert isinstance(txt[0], Opaque) and len(txt[0].data) == 4 * 251
            locator = await locate_sip_server(f"sip:bob@{D}", resolver)
            assert locator.targets[0] == SipTarget("127.0.0.1", 5070, "UDP", f"sip1.{D}")
            assert locator.targets[1] == SipTarget("127.0.0.1", 5071, "UDP", f"sip2.{D}")
            assert resolver.dropped == 0

        asyncio.run(main())


# ---- a hostile server, timeouts, refusals ------------------------------------------------
class _Hostile(asyncio.DatagramProtocol):
    """Answers each query with a spoofed id, then garbage, then (if ``honest``) the answer."""

    def __init__(self, honest: bool) -> None:
        self.honest = honest
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        query = Message.decode(data)
        answer = Message(query.id, 0x8180, query.questions,
                         (Record(query.questions[0].name, A("192.0.2.7")),))  # fmt: skip
        spoofed = Message(query.id ^ 0x5A5A, 0x8180, query.questions,
                          (Record(query.questions[0].name, A("203.0.113.66")),))  # fmt: skip
        self.transport.sendto(spoofed.encode(), addr)
        self.transport.sendto(data[:2] + b"\x81\x80" + b"\xff" * 20, addr)  # our id, garbage
        if self.honest:
            self.transport.sendto(answer.encode(), addr)


def test_spoofed_and_malformed_replies_are_dropped_and_counted() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Hostile(honest=True), local_addr=("127.0.0.1", 0)
        )
        try:
            resolver = DnsResolver([transport.get_extra_info("sockname")[:2]])
            reply = await resolver.query("x.test", TYPE_A)
            assert answers_for(reply, "x.test", TYPE_A) == [A("192.0.2.7")]
            assert resolver.dropped == 2
        finally:
            transport.close()

    asyncio.run(main())


def test_no_answer_is_a_lookup_error_after_the_attempts() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Hostile(honest=False), local_addr=("127.0.0.1", 0)
        )
        try:
            server = transport.get_extra_info("sockname")[:2]
            resolver = DnsResolver([server], timeout=0.2, attempts=2)
            started = time.monotonic()
            with pytest.raises(DnsLookupError, match=r"x.test A: no answer from .* in 0.4 s"):
                await resolver.query("x.test", TYPE_A)
            assert time.monotonic() - started >= 0.39
            assert (resolver.queries, resolver.dropped) == (2, 4)
            closed = DnsResolver([("127.0.0.1", free_port())], timeout=2, attempts=3)
            with pytest.raises(DnsLookupError, match=r"no DNS server at 127\.0\.0\.1"):
                await closed.query("x.test", TYPE_A)  # ICMP port unreachable: at once
            assert closed.queries == 1
            with pytest.raises(DnsLookupError, match="no DNS server"):
                await DnsResolver([]).query("x.test", TYPE_A)
        finally:
            transport.close()

    asyncio.run(main())


def test_nameservers_from_resolv_conf(tmp_path: Path) -> None:
    from pyrtcstack.aio import nameservers

    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# comment\nsearch example.test\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\n"
        "nameserver not-an-address\nnameserver 192.0.2.54\nnameserver 192.0.2.55\n"
    )
    assert nameservers(str(conf)) == [("192.0.2.53", 53), ("fe80::1", 53), ("192.0.2.54", 53)]
    assert nameservers(str(tmp_path / "missing")) == []


# ---- the CLI: sip call sip:bob@example.test ----------------------------------------------
def _listen(port: int, transport: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyrtcstack", "sip", "listen", f"127.0.0.1:{port}", "--once",
         "--transport", transport], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().decode().startswith("listening on ")
    return proc


def _call(server: tuple[str, int], *extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "pyrtcstack", "sip", "call", f"sip:bob@{D}", "--dns-server",
         f"{server[0]}:{server[1]}", "--duration", "0.2", "--timeout", "20", *extra],
        capture_output=True, cwd=PROJECT, timeout=90, check=False,
    )  # fmt: skip


def test_sip_call_finds_sip_listen_by_naptr_and_srv_after_a_503(tmp_path: Path) -> None:
    """NAPTR SIP+D2U → SRV _sip._udp: priority 10 is SIPp answering 503, priority 20 our
    ``sip listen``; the call fails over to the second (RFC 3263 §4.3)."""
    sipp_binary = require_binary("sipp", "sip-tester")
    busy, good = free_port(), free_port()
    sipp = subprocess.Popen(
        [sipp_binary, "-sf", str(SCENARIOS / "uas_unavailable.xml"), "-i", "127.0.0.1", "-p",
         str(busy), "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error", "-mp",
         str(free_port())], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    listen = _listen(good, "udp")
    srv = (f"--srv-host=_sip._udp.{D},sip1.{D},{busy},10,0",
           f"--srv-host=_sip._udp.{D},sip2.{D},{good},20,0")  # fmt: skip
    try:
        with dnsmasq(*RECORDS, *srv) as server:
            call = _call(server)
        assert call.returncode == 0, call.stderr.decode()
        out = call.stdout.decode().splitlines()
        assert f"dns: NAPTR {D}: UDP via _sip._udp.{D} (§4.1)" in out
        assert out.index(f"calling sip:bob@{D} via 127.0.0.1:{busy} over UDP") < out.index(
            "503 Service Unavailable: trying the next server (RFC 3263 §4.3)"
        ) < out.index(f"calling sip:bob@{D} via 127.0.0.1:{good} over UDP")  # fmt: skip
        assert out[-1] == "hung up"
        rest, _ = listen.communicate(timeout=30)
        assert listen.returncode == 0 and rest.decode().splitlines()[-1].endswith(" ended")
        assert sipp.wait(30) == 0  # SIPp got the ACK of its 503
    finally:
        for proc in (listen, sipp):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_sip_call_takes_the_transport_from_naptr() -> None:
    """Only SIP+D2T in NAPTR: the call goes over TCP to the SRV's port."""
    port = free_port(socket.SOCK_STREAM)
    listen = _listen(port, "tcp")
    records = (
        f"--naptr-record={D},10,50,s,SIP+D2T,,_sip._tcp.{D}",
        f"--srv-host=_sip._tcp.{D},sip1.{D},{port},0,0",
        f"--host-record=sip1.{D},127.0.0.1",
    )
    try:
        with dnsmasq(*records) as server:
            call = _call(server)
        assert call.returncode == 0, call.stderr.decode()
        out = call.stdout.decode().splitlines()
        assert f"calling sip:bob@{D} via 127.0.0.1:{port} over TCP" in out
        listen.communicate(timeout=30)
        assert listen.returncode == 0
    finally:
        if listen.poll() is None:
            listen.kill()
            listen.wait()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (f"sip:bob@nope.{D}",
         f"cannot locate the server of sip:bob@nope.{D}: nope.{D}: no such domain"),
        (f"sip:bob@nothing.{D}", f"nothing.{D} has no A or AAAA record"),
        (f"sips:bob@sip1.{D}", "needs TLS, which we do not support here"),
    ],
)  # fmt: skip
def test_cli_mistakes_are_one_line(uri: str, message: str) -> None:
    with dnsmasq(*RECORDS, f"--txt-record=nothing.{D},x") as server:
        proc = subprocess.run(
            [sys.executable, "-m", "pyrtcstack", "sip", "call", uri, "--dns-server",
             f"{server[0]}:{server[1]}"], capture_output=True, cwd=PROJECT, timeout=60,
            check=False,
        )  # fmt: skip
    err = proc.stderr.decode()
    assert proc.returncode == 1 and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_a_local_address_of_the_other_family_is_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pyrtcstack", "sip", "call", "sip:bob@127.0.0.1:5099",
         "--local", "[::1]:0"], capture_output=True, cwd=PROJECT, timeout=60, check=False,
    )  # fmt: skip
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "no server with an IPv6 address like --local" in err, err
    assert len(err.strip().splitlines()) == 1


def test_cli_dns_timeout_and_refusal_are_one_line() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # a socket that never answers
        port = silent.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "pyrtcstack", "sip", "call", f"sip:bob@{D}", "--dns-server",
             f"127.0.0.1:{port}"], capture_output=True, cwd=PROJECT, timeout=60, check=False,
        )  # fmt: skip
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert f"{D} NAPTR: no answer from 127.0.0.1:{port} in 6 s" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    closed = free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "pyrtcstack", "sip", "call", f"sip:bob@{D}", "--dns-server",
         f"127.0.0.1:{closed}"], capture_output=True, cwd=PROJECT, timeout=60, check=False,
    )  # fmt: skip
    err = proc.stderr.decode()
    assert proc.returncode == 1 and f"no DNS server at 127.0.0.1:{closed}" in err, err
    assert len(err.strip().splitlines()) == 1
