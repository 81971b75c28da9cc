"""Interop with real DTLS 1.2 peers on loopback: OpenSSL ``s_server``/``s_client`` and GnuTLS
``gnutls-serv``/``gnutls-cli`` (recipes in ../shared/INTEROP.md §2). Every case checks the
exported SRTP keying material against the peer's, byte for byte, where the peer prints it,
and application data both ways."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pyrtcstack.aio.dtls import DtlsSocket, open_dtls
from pyrtcstack.dtls import (
    CipherSuite,
    DtlsCertificate,
    DtlsConnection,
    DtlsError,
    DtlsRole,
    Fingerprint,
    FingerprintMismatchError,
    NamedGroup,
    SrtpProfile,
)
from tests.peers import free_udp_port, require_binary
from tests.test_dtls_certificate import self_signed

pytestmark = pytest.mark.interop

TIMEOUT = 10.0
OPENSSL_SRTP = {
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80: "SRTP_AES128_CM_SHA1_80",
    SrtpProfile.SRTP_AEAD_AES_128_GCM: "SRTP_AEAD_AES_128_GCM",
    SrtpProfile.SRTP_AEAD_AES_256_GCM: "SRTP_AEAD_AES_256_GCM",
}
GNUTLS_PRIORITY = (
    "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-128-GCM:-KX-ALL:+ECDHE-ECDSA:"
    "-GROUP-ALL:+GROUP-SECP256R1:+GROUP-X25519:%NO_TICKETS"
)


class Peer:
    """A subprocess peer in its own session, read asynchronously, killed on exit."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out = b""

    @classmethod
    async def start(cls, argv: Sequence[str]) -> Peer:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return cls(proc)

    async def expect(self, pattern: bytes, timeout: float = TIMEOUT) -> re.Match[bytes]:
        assert self.proc.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            m = re.search(pattern, self.out)
            if m:
                return m
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"{pattern!r} not seen in:\n{self.out.decode(errors='replace')}")
            try:
                chunk = await asyncio.wait_for(self.proc.stdout.read(65536), left)
            except TimeoutError:
                continue
            if not chunk:
                raise EOFError(
                    f"{pattern!r} not seen before exit:\n{self.out.decode(errors='replace')}"
                )
            self.out += chunk

    def send_line(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")

    async def keying_material(self) -> bytes:
        m = await self.expect(rb"(?:Keying|Key) material: ([0-9A-Fa-f]+)")
        return bytes.fromhex(m.group(1).decode())

    async def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    async def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 5)


@contextlib.asynccontextmanager
async def peer(argv: Sequence[str]) -> AsyncIterator[Peer]:
    p = await Peer.start(argv)
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ECDSA P-256 and RSA-2048 self-signed certificates for the external peers."""
    d = tmp_path_factory.mktemp("dtls-certs")
    out: dict[str, Path] = {}
    keys: dict[str, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey] = {
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }
    for name, key in keys.items():
        cert = self_signed(key)
        out[name + "_cert"] = d / f"{name}_cert.pem"
        out[name + "_key"] = d / f"{name}_key.pem"
        out[name + "_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        out[name + "_key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return out


def _fingerprint(cert_pem: Path) -> Fingerprint:
    cert = DtlsCertificate.load_pem(
        cert_pem.read_bytes(),
        cert_pem.with_name(cert_pem.name.replace("_cert", "_key")).read_bytes(),
    )
    return cert.fingerprint()


def _openssl_server_argv(
    port: int, cert: Path, key: Path, profile: SrtpProfile, extra: Sequence[str]
) -> list[str]:
    return [
        require_binary("openssl", "openssl"),
        "s_server", "-dtls1_2", "-accept", f"127.0.0.1:{port}", "-naccept", "1",
        "-cert", str(cert), "-key", str(key), "-use_srtp", OPENSSL_SRTP[profile],
        "-keymatexport", "EXTRACTOR-dtls_srtp",
        "-keymatexportlen", str(profile.keying_material_length),
        "-verify", "1", "-no_ticket", *extra,
    ]  # fmt: skip


def _openssl_client_argv(
    port: int, cert: Path, key: Path, profile: SrtpProfile, extra: Sequence[str]
) -> list[str]:
    return [
        require_binary("openssl", "openssl"),
        "s_client", "-dtls1_2", "-connect", f"127.0.0.1:{port}",
        "-cert", str(cert), "-key", str(key), "-use_srtp", OPENSSL_SRTP[profile],
        "-keymatexport", "EXTRACTOR-dtls_srtp",
        "-keymatexportlen", str(profile.keying_material_length), *extra,
    ]  # fmt: skip


def _gnutls_server_argv(port: int, pem_files: dict[str, Path]) -> list[str]:
    """gnutls-serv echoing over DTLS, demanding a client certificate, SHA1_80 SRTP."""
    return [
        require_binary("gnutls-serv", "gnutls-bin"),
        "--udp", "--echo", "-p", str(port),
        "--x509certfile", str(pem_files["ec_cert"]), "--x509keyfile", str(pem_files["ec_key"]),
        "--priority", GNUTLS_PRIORITY, "--srtp-profiles", "SRTP_AES128_CM_HMAC_SHA1_80",
        "--require-client-cert",
    ]  # fmt: skip


def _gnutls_client_argv(port: int, pem_files: dict[str, Path]) -> list[str]:
    """gnutls-cli over DTLS with our certificate, printing the SRTP keying material."""
    return [
        require_binary("gnutls-cli", "gnutls-bin"),
        "--udp", "--insecure", "-p", str(port),
        "--x509certfile", str(pem_files["ec_cert"]), "--x509keyfile", str(pem_files["ec_key"]),
        "--priority", GNUTLS_PRIORITY, "--srtp-profiles", "SRTP_AES128_CM_HMAC_SHA1_80",
        "--keymatexport", "EXTRACTOR-dtls_srtp", "--keymatexportsize", "60", "127.0.0.1",
    ]  # fmt: skip


async def _exchange(sock: DtlsSocket, p: Peer) -> None:
    """Application data both ways (the peers relay stdin/stdout line by line)."""
    sock.send(b"line from pyrtcstack\n")
    await p.expect(rb"line from pyrtcstack")
    p.send_line("line from the peer")
    data = await asyncio.wait_for(sock.recv(), TIMEOUT)
    assert data == b"line from the peer\n"


def _srtp_material(conn: DtlsConnection) -> bytes:
    assert conn.srtp_profile is not None
    return conn.export_keying_material(
        b"EXTRACTOR-dtls_srtp", conn.srtp_profile.keying_material_length
    )


_CM80 = SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
_GCM128 = SrtpProfile.SRTP_AEAD_AES_128_GCM
_GCM256 = SrtpProfile.SRTP_AEAD_AES_256_GCM
_RSA_CHACHA = ["-cipher", "ECDHE-RSA-CHACHA20-POLY1305", "-sigalgs", "RSA+SHA256"]
CLIENT_CASES = [
    pytest.param(_CM80, ["-groups", "P-256"], "ec", id="p256-256B-fragments"),
    pytest.param(_CM80, ["-groups", "X25519:P-256", "-mtu", "1200"], "ec", id="x25519-mtu1200"),
    pytest.param(_GCM128, ["-groups", "P-384:P-256"], "ec", id="p384-aead128"),
    pytest.param(_GCM256, ["-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"], "ec", id="aes256-aead256"),
    pytest.param(_CM80, ["-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"], "ec", id="chacha20"),
    # OpenSSL signs its ServerKeyExchange with rsa_pss_rsae_sha256 here (seen with -trace)
    pytest.param(_CM80, ["-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], "rsa", id="rsa-pss-aes128"),
    pytest.param(
        _CM80, [*_RSA_CHACHA, "-client_sigalgs", "ECDSA+SHA256"], "rsa", id="rsa-pkcs1-chacha20"
    ),
]


@pytest.mark.parametrize(("profile", "extra", "kind"), CLIENT_CASES)
def test_client_against_openssl_server(
    pem_files: dict[str, Path], profile: SrtpProfile, extra: list[str], kind: str
) -> None:
    async def main() -> None:
        port = free_udp_port()
        cert, key = pem_files[f"{kind}_cert"], pem_files[f"{kind}_key"]
        argv = _openssl_server_argv(port, cert, key, profile, extra)
        async with peer(argv) as p:
            await p.expect(rb"ACCEPT")
            conn = DtlsConnection(
                DtlsRole.CLIENT,
                remote_address=("127.0.0.1", port),
                remote_fingerprints=[_fingerprint(cert)],
                srtp_profiles=[profile],
            )
            sock = await open_dtls(conn)
            done = await sock.handshake(TIMEOUT)
            assert done.srtp_profile == profile
            assert _srtp_material(conn) == await p.keying_material()
            await _exchange(sock, p)
            sock.close()
            await p.expect(rb"(?i)closed|shutting down|DONE")

    asyncio.run(main())


SERVER_CASES = [
    pytest.param(["-groups", "P-256"], False, id="p256-no-cookie"),
    pytest.param(["-groups", "X25519:P-256", "-mtu", "1200"], True, id="x25519-cookie-mtu1200"),
    pytest.param(["-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"], True, id="chacha20-cookie"),
]


@pytest.mark.parametrize(("extra", "cookie"), SERVER_CASES)
def test_server_against_openssl_client(
    pem_files: dict[str, Path], extra: list[str], cookie: bool
) -> None:
    async def main() -> None:
        port = free_udp_port()
        conn = DtlsConnection(
            DtlsRole.SERVER,
            remote_fingerprints=[_fingerprint(pem_files["ec_cert"])],
            use_cookie=cookie,
        )
        sock = await open_dtls(conn, ("127.0.0.1", port))
        argv = _openssl_client_argv(
            port,
            pem_files["ec_cert"],
            pem_files["ec_key"],
            SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
            extra,
        )
        async with peer(argv) as p:
            done = await sock.handshake(TIMEOUT)
            assert done.cipher_suite in set(CipherSuite)
            assert _srtp_material(conn) == await p.keying_material()
            await p.expect(rb"Extended master secret: yes")
            await _exchange(sock, p)
            await p.close_stdin()  # s_client sends close_notify on stdin EOF
            assert await asyncio.wait_for(sock.recv(), TIMEOUT) is None
            assert sock.closed
            sock.endpoint.close()  # type: ignore[union-attr]

    asyncio.run(main())


def test_openssl_server_with_wrong_fingerprint_fails(pem_files: dict[str, Path]) -> None:
    async def main() -> None:
        port = free_udp_port()
        argv = _openssl_server_argv(
            port,
            pem_files["ec_cert"],
            pem_files["ec_key"],
            SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
            [],
        )
        async with peer(argv) as p:
            await p.expect(rb"ACCEPT")
            conn = DtlsConnection(
                DtlsRole.CLIENT,
                remote_address=("127.0.0.1", port),
                remote_fingerprints=[_fingerprint(pem_files["rsa_cert"])],
            )
            sock = await open_dtls(conn)
            with pytest.raises(FingerprintMismatchError):
                await sock.handshake(TIMEOUT)
            await p.expect(rb"(?i)bad certificate")
            sock.endpoint.close()  # type: ignore[union-attr]

    asyncio.run(main())


def test_client_against_gnutls_server(pem_files: dict[str, Path]) -> None:
    async def main() -> None:
        port = free_udp_port()
        argv = _gnutls_server_argv(port, pem_files)
        async with peer(argv) as p:
            await p.expect(rb"listening on IPv4[^\n]*done")
            conn = DtlsConnection(
                DtlsRole.CLIENT,
                remote_address=("127.0.0.1", port),
                remote_fingerprints=[_fingerprint(pem_files["ec_cert"])],
            )
            sock = await open_dtls(conn)
            done = await sock.handshake(TIMEOUT)
            # GnuTLS 3.7 knows no AEAD SRTP profiles ("Syntax error" on their names)
            assert done.srtp_profile == SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
            sock.send(b"echo me")
            assert await asyncio.wait_for(sock.recv(), TIMEOUT) == b"echo me"
            sock.close()

    asyncio.run(main())


@pytest.mark.parametrize("cookie", [False, True])
def test_server_against_gnutls_client(pem_files: dict[str, Path], cookie: bool) -> None:
    async def main() -> None:
        port = free_udp_port()
        conn = DtlsConnection(
            DtlsRole.SERVER,
            remote_fingerprints=[_fingerprint(pem_files["ec_cert"])],
            groups=[NamedGroup.SECP256R1],
            use_cookie=cookie,
        )
        sock = await open_dtls(conn, ("127.0.0.1", port))
        argv = _gnutls_client_argv(port, pem_files)
        async with peer(argv) as p:
            await sock.handshake(TIMEOUT)
            assert _srtp_material(conn) == await p.keying_material()
            await p.expect(rb"extended master secret")
            await _exchange(sock, p)
            sock.close()

    asyncio.run(main())


def test_handshake_error_type_is_public() -> None:
    assert issubclass(FingerprintMismatchError, DtlsError)
