"""A DTLS 1.3-capable pyrtcstack against the 1.2-only real peers: OpenSSL 3.0 and GnuTLS 3.7
(``-dtls1_2``) and aiortc's RTCPeerConnection. Our 1.3 offer must fall back to 1.2 (the
exported SRTP keying material still matches the peer's byte for byte), our 1.3-capable
server must answer their 1.2 ClientHellos, and a 1.3-only side must fail cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.aio.dtls import open_dtls
from pyrtcstack.dtls import DtlsConnection, DtlsError, DtlsRole, DtlsVersion, SrtpProfile
from pyrtcstack.dtls.constants import AlertDescription
from pyrtcstack.peerconnection import Settings
from tests.pc_harness import Aiortc, Ours, check_scenario, data_channel_scenario
from tests.peers import free_udp_port, require_module
from tests.test_dtls_interop import (
    TIMEOUT,
    _exchange,
    _fingerprint,
    _gnutls_client_argv,
    _gnutls_server_argv,
    _openssl_client_argv,
    _openssl_server_argv,
    _srtp_material,
    peer,
    pem_files,
)

pytestmark = pytest.mark.interop

BOTH = (DtlsVersion.DTLS_1_3, DtlsVersion.DTLS_1_2)
_CM80 = SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
__all__ = ["pem_files"]  # the fixture, re-exported for pytest


def test_13_capable_client_falls_back_with_openssl_server(pem_files: dict[str, Path]) -> None:
    async def main() -> None:
        port = free_udp_port()
        cert, key = pem_files["ec_cert"], pem_files["ec_key"]
        argv = _openssl_server_argv(port, cert, key, _CM80, ["-groups", "X25519:P-256"])
        async with peer(argv) as p:
            await p.expect(rb"ACCEPT")
            conn = DtlsConnection(
                DtlsRole.CLIENT,
                remote_address=("127.0.0.1", port),
                remote_fingerprints=[_fingerprint(cert)],
                srtp_profiles=[_CM80],
                versions=BOTH,
            )
            sock = await open_dtls(conn)
            done = await sock.handshake(TIMEOUT)
            assert done.version == "DTLS 1.2"
            assert _srtp_material(conn) == await p.keying_material()
            await _exchange(sock, p)
            sock.close()

    asyncio.run(main())


@pytest.mark.parametrize("cookie", [False, True])
def test_13_capable_server_answers_openssl_client(pem_files: dict[str, Path], cookie: bool) -> None:
    async def main() -> None:
        port = free_udp_port()
        conn = DtlsConnection(
            DtlsRole.SERVER,
            remote_fingerprints=[_fingerprint(pem_files["ec_cert"])],
            use_cookie=cookie,
            versions=BOTH,
        )
        sock = await open_dtls(conn, ("127.0.0.1", port))
        argv = _openssl_client_argv(port, pem_files["ec_cert"], pem_files["ec_key"], _CM80, [])
        async with peer(argv) as p:
            done = await sock.handshake(TIMEOUT)
            assert done.version == "DTLS 1.2"
            assert _srtp_material(conn) == await p.keying_material()
            await _exchange(sock, p)
            await p.close_stdin()
            assert await asyncio.wait_for(sock.recv(), TIMEOUT) is None
            sock.endpoint.close()  # type: ignore[union-attr]

    asyncio.run(main())


def test_13_only_client_fails_cleanly_against_openssl(pem_files: dict[str, Path]) -> None:
    async def main() -> None:
        port = free_udp_port()
        cert, key = pem_files["ec_cert"], pem_files["ec_key"]
        async with peer(_openssl_server_argv(port, cert, key, _CM80, [])) as p:
            await p.expect(rb"ACCEPT")
            conn = DtlsConnection(
                DtlsRole.CLIENT,
                remote_address=("127.0.0.1", port),
                remote_fingerprints=[_fingerprint(cert)],
                versions=(DtlsVersion.DTLS_1_3,),
            )
            sock = await open_dtls(conn)
            with pytest.raises(DtlsError) as info:
                await sock.handshake(TIMEOUT)
            # OpenSSL 3.0 finds no 1.2 suite in a 1.3-only offer and says so in an alert
            assert info.value.alert in (
                AlertDescription.HANDSHAKE_FAILURE,
                AlertDescription.PROTOCOL_VERSION,
            )
            assert conn.state == "failed" and conn.error is info.value
            sock.endpoint.close()  # type: ignore[union-attr]

    asyncio.run(main())


def test_13_capable_sides_with_gnutls(pem_files: dict[str, Path]) -> None:
    async def main() -> None:
        port = free_udp_port()
        server_conn = DtlsConnection(
            DtlsRole.SERVER,
            remote_fingerprints=[_fingerprint(pem_files["ec_cert"])],
            versions=BOTH,
        )
        sock = await open_dtls(server_conn, ("127.0.0.1", port))
        argv = _gnutls_client_argv(port, pem_files)
        async with peer(argv) as p:
            done = await sock.handshake(TIMEOUT)
            assert done.version == "DTLS 1.2"
            assert _srtp_material(server_conn) == await p.keying_material()
            await _exchange(sock, p)
            sock.close()

        port = free_udp_port()
        argv = _gnutls_server_argv(port, pem_files)
        async with peer(argv) as p:
            await p.expect(rb"listening on IPv4[^\n]*done")
            conn = DtlsConnection(
                DtlsRole.CLIENT,
                remote_address=("127.0.0.1", port),
                remote_fingerprints=[_fingerprint(pem_files["ec_cert"])],
                versions=BOTH,
            )
            client = await open_dtls(conn)
            done = await client.handshake(TIMEOUT)
            assert done.version == "DTLS 1.2"
            client.send(b"echo me")
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == b"echo me"
            client.close()

    asyncio.run(main())


@pytest.fixture
def aiortc(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = require_module("aiortc")
    aioice = require_module("aioice")
    # INTEROP.md §1: aioice skips loopback when gathering; pin it to 127.0.0.1.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda *a, **k: ["127.0.0.1"])
    return module


@pytest.mark.parametrize("we_offer", [True, False], ids=["we-offer", "aiortc-offers"])
def test_13_capable_peerconnection_with_aiortc(aiortc: Any, we_offer: bool) -> None:
    """aiortc (pyOpenSSL, DTLS 1.2 only) in both DTLS roles against our 1.3-capable side."""

    async def main() -> None:
        settings = Settings(host_addresses=["127.0.0.1"], dtls_versions=("1.3", "1.2"))
        ours, theirs = Ours(settings=settings), Aiortc(aiortc)
        offerer, answerer = (ours, theirs) if we_offer else (theirs, ours)
        try:
            check_scenario(await data_channel_scenario(offerer, answerer, "offerer"))
            assert ours.pc.core.dtls.version == DtlsVersion.DTLS_1_2
        finally:
            await ours.close()
            await theirs.close()

    asyncio.run(main())


def test_two_13_peerconnections_report_fefc() -> None:
    """Two of our PeerConnections with DTLS 1.3 allowed: the whole data channel scenario runs
    over 1.3 and the transport stats say so (tlsVersion "FEFC", the TLS 1.3 suite)."""

    async def main() -> None:
        settings = {"host_addresses": ["127.0.0.1"], "dtls_versions": ("1.3", "1.2")}
        a, b = Ours(settings=Settings(**settings)), Ours(settings=Settings(**settings))  # type: ignore[arg-type]
        seen_stats: list[dict[str, Any]] = []

        async def snapshot() -> None:
            for side in (a, b):
                stats = await side.pc.get_stats()
                seen_stats.append(next(s for s in stats.values() if s.get("type") == "transport"))

        try:
            check_scenario(await data_channel_scenario(a, b, "answerer"))
            await snapshot()  # the channel closed, the connection is still up
        finally:
            await a.close()
            await b.close()
        for transport in seen_stats:
            assert transport["tlsVersion"] == "FEFC"
            assert transport["dtlsCipher"] == "TLS_AES_128_GCM_SHA256"
        assert {t["dtlsRole"] for t in seen_stats} == {"client", "server"}

    asyncio.run(main())
