"""``wss://`` signaling with the server's own TLS (``signaling-server --cert --key``) and a
throwaway CA made here: ``SignalingClient.connect("wss://…")`` verifies against the system
trust store by default (an unknown CA is refused; ``SSL_CERT_FILE`` naming our CA is
trusted), ``--ca-file`` trusts a private CA, and two ``chat`` processes talk through it.
The room's creator is told to run ``chat`` (not ``receive``) with the same options."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import require_module

require_module("websockets")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from pyrtcstack.signaling import SignalingClient  # noqa: E402

pytestmark = pytest.mark.timeout(90)
CLI = [sys.executable, "-m", "pyrtcstack"]


def make_ca(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it:
    (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pyrtcstack test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


@contextlib.contextmanager
def start_server(cert: Path, key: Path) -> Iterator[str]:
    """``pyrtcstack signaling-server`` with TLS on a free port; yields its wss:// URL."""
    proc = subprocess.Popen(
        [*CLI, "signaling-server", "--port", "0", "--cert", str(cert), "--key", str(key)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        assert url.startswith("wss://127.0.0.1:"), url
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    ca, cert, key = make_ca(tmp_path)
    with start_server(cert, key) as url:
        yield ca, url


def test_client_verifies_by_default_and_takes_a_private_ca(tls: tuple[Path, str]) -> None:
    ca, url = tls

    async def main() -> None:
        # No context given: the system trust store, which does not know our CA.
        with pytest.raises(ssl.SSLCertVerificationError):
            await SignalingClient.connect(url)
        trusting = ssl.create_default_context(cafile=str(ca))
        a = await SignalingClient.connect(url, ssl_context=trusting)
        b = await SignalingClient.connect(url, ssl_context=trusting)
        await b.join(await a.create_room())
        await a.signal("over wss")
        assert await b.receive_signal(5) == "over wss"
        await a.close()
        await b.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_default_is_the_system_trust_store(tls: tuple[Path, str]) -> None:
    """With OpenSSL's ``SSL_CERT_FILE`` naming our CA (what a system trust store update
    would do), a client given no context connects."""
    ca, url = tls
    code = (
        "import asyncio, sys\n"
        "from pyrtcstack.signaling import SignalingClient\n"
        "async def main():\n"
        "    c = await SignalingClient.connect(sys.argv[1])\n"
        "    print(await c.create_room())\n"
        "    await c.close()\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "SSL_CERT_FILE": str(ca)}
    out = subprocess.run(
        [sys.executable, "-c", code, url],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.strip()) >= 20


def test_chat_over_wss_with_ca_file(tls: tuple[Path, str]) -> None:
    ca, url = tls
    alice = subprocess.Popen(
        [*CLI, "chat", "--room", url, "--ca-file", str(ca), "--loopback"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    bob = None
    try:
        assert alice.stdout and alice.stdin and alice.stderr
        room = alice.stdout.readline().split()[1]
        hint = alice.stderr.readline()
        # The other side runs chat (not receive), with the same --ca-file and --loopback.
        expected = f"pyrtcstack chat --room {url} --join {room} --ca-file {ca} --loopback"
        assert hint.strip() == f"on the other machine: {expected}", hint
        bob = subprocess.Popen(
            [*CLI, *expected.split()[1:]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert bob.stdout and bob.stdin
        alice.stdin.write("hello over wss\n")
        alice.stdin.flush()
        assert bob.stdout.readline() == "< hello over wss\n"
        bob.stdin.close()  # Ctrl-D
        assert alice.stdout.readline() == "* peer left\n"
        assert alice.wait(20) == 0 and bob.wait(20) == 0
    finally:
        for proc in (alice, bob):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)


def test_send_hint_names_receive() -> None:
    """``send --room`` tells the other machine to run receive, keeping --loopback."""
    proc = subprocess.Popen(
        [*CLI, "signaling-server", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    sender = None
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        sender = subprocess.Popen(
            [*CLI, "send", "/etc/hostname", "--room", url, "--loopback", "--timeout", "5"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert sender.stdout and sender.stderr
        room = sender.stdout.readline().split()[1]
        hint = sender.stderr.readline().strip()
        assert hint == (
            f"on the other machine: pyrtcstack receive --room {url} --join {room} --loopback"
        )
        # Nobody joins: the sender gives up after --timeout with one line, exit 1.
        assert sender.wait(30) == 1
        rest = sender.stderr.read()
        assert "nobody joined the room within 5 s" in rest and "Traceback" not in rest
    finally:
        for p in (proc, sender):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
