"""DTLS benchmark: pyrtcstack.dtls beside pyOpenSSL's DTLS (what aiortc uses), same run.

Measures, for both stacks, entirely in memory (no sockets):
* full handshakes per second (ECDHE-ECDSA-AES128-GCM-SHA256, P-256 certificates, mutual
  authentication, use_srtp), both ends in this process;
* application data records of 1200 bytes: protect (encrypt + frame) and unprotect (parse +
  decrypt + deliver) throughput in MB/s of payload; ours hands the plaintext up by
  ``take_application_data`` (beside pyOpenSSL's recv);
* the same for our DTLS 1.3 (RFC 9147: TLS_AES_128_GCM_SHA256, record-number encryption,
  x25519 or the X25519MLKEM768 hybrid): OpenSSL 3.0 has no DTLS 1.3, so those rows compare
  with pyOpenSSL's DTLS 1.2 (and with our 1.2 in the last column).

Run: ``.venv/bin/python bench/bench_dtls.py [--seconds 2]``. The machine is shared: run it a
few times and quote medians.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import random
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec

from pyrtcstack.dtls import (
    DtlsCertificate,
    DtlsConnection,
    DtlsRole,
    DtlsVersion,
    NamedGroup,
)
from pyrtcstack.dtls.record import parse_records

PAYLOAD = bytes(1200)
A, B = ("10.0.0.1", 1), ("10.0.0.2", 2)
NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def rate(fn: Callable[[], int], seconds: float) -> float:
    """Units per second of ``fn`` (which returns how many units it did), best of 3 slices."""
    results = []
    for _ in range(3):
        done = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            done += fn()
        results.append(done / elapsed)
    return max(results)


# ---- pyrtcstack ------------------------------------------------------------------------------

CERT_C = DtlsCertificate.generate(random.Random(1), not_before=NOT_BEFORE)
CERT_S = DtlsCertificate.generate(random.Random(2), not_before=NOT_BEFORE)


V12 = (DtlsVersion.DTLS_1_2,)
V13 = (DtlsVersion.DTLS_1_3, DtlsVersion.DTLS_1_2)
X25519 = (int(NamedGroup.X25519),)


def ours_pair(
    versions: tuple[DtlsVersion, ...] = V12, shares: tuple[int, ...] | None = None
) -> tuple[DtlsConnection, DtlsConnection]:
    extra: dict[str, object] = {"key_shares": shares} if shares is not None else {}
    client = DtlsConnection(
        DtlsRole.CLIENT,
        certificate=CERT_C,
        remote_fingerprints=[CERT_S.fingerprint()],
        remote_address=B,
        versions=versions,
        **extra,  # type: ignore[arg-type]
    )
    server = DtlsConnection(
        DtlsRole.SERVER,
        certificate=CERT_S,
        remote_fingerprints=[CERT_C.fingerprint()],
        versions=versions,
    )
    server.start(0.0)
    client.start(0.0)
    for _ in range(10):
        moved = False
        for src, dst, addr in ((client, server, A), (server, client, B)):
            for data, _ in src.datagrams_to_send(0.0):
                dst.receive_datagram(data, addr, 0.0)
                moved = True
        if not moved:
            break
    assert client.is_established and server.is_established
    while client.next_event() or server.next_event():
        pass
    return client, server


def ours_handshake() -> int:
    ours_pair()
    return 1


def ours_handshake13() -> int:
    ours_pair(V13, X25519)
    return 1


def ours_handshake13_mlkem() -> int:
    ours_pair(V13)  # default shares: X25519MLKEM768 + x25519
    return 1


def ours_record_benches(
    versions: tuple[DtlsVersion, ...] = V12,
) -> tuple[Callable[[], int], Callable[[], int]]:
    client, server = ours_pair(versions, X25519)
    # the protect bench gets a pair of its own: DTLS 1.3 carries only the low 16 bits of the
    # sequence number, so the receiver cannot follow a jump of 2^15 unseen records
    protect_client = ours_pair(versions, X25519)[0]

    def protect() -> int:
        for _ in range(100):
            protect_client.protect(PAYLOAD)
        return 100 * len(PAYLOAD)

    def unprotect() -> int:
        # 100 fresh records (not timed), as for pyOpenSSL below: like datagrams just read
        # from a socket they are in the CPU cache
        batch = [client.protect(PAYLOAD) for _ in range(100)]
        s = server
        receive, take = s.receive_datagram, s.take_application_data
        n = 0
        start = time.perf_counter()
        for r in batch:
            receive(r, A, 0.0)
            for data in take():
                n += len(data)
        # only the receive side is timed (as for pyOpenSSL below)
        unprotect.spent += time.perf_counter() - start  # type: ignore[attr-defined]
        assert n == 100 * len(PAYLOAD)
        return n

    unprotect.spent = 0.0  # type: ignore[attr-defined]
    return protect, unprotect


# ---- pyOpenSSL (aiortc's DTLS) -----------------------------------------------------------------


def openssl_available() -> bool:
    try:
        import OpenSSL  # noqa: F401
    except ImportError:
        return False
    return True


def openssl_context(cert: DtlsCertificate) -> object:
    from OpenSSL import SSL

    ctx = SSL.Context(SSL.DTLS_METHOD)
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *args: True)
    ctx.use_certificate(cert.certificate)
    key = cert.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    ctx.use_privatekey(key)
    ctx.set_cipher_list(b"ECDHE-ECDSA-AES128-GCM-SHA256")
    ctx.set_tlsext_use_srtp(b"SRTP_AES128_CM_SHA1_80")
    return ctx


def openssl_pair() -> tuple[object, object]:
    from OpenSSL import SSL

    client = SSL.Connection(openssl_context(CERT_C))  # type: ignore[arg-type]
    server = SSL.Connection(openssl_context(CERT_S))  # type: ignore[arg-type]
    client.set_connect_state()
    server.set_accept_state()
    done = [False, False]
    for _ in range(20):
        for i, (conn, other) in enumerate(((client, server), (server, client))):
            if not done[i]:
                try:
                    conn.do_handshake()
                    done[i] = True
                except SSL.WantReadError:
                    pass
            while True:
                try:
                    data = conn.bio_read(65536)
                except SSL.WantReadError:
                    break
                other.bio_write(data)
        if all(done):
            break
    assert all(done)
    return client, server


def openssl_handshake() -> int:
    openssl_pair()
    return 1


def openssl_record_benches() -> tuple[Callable[[], int], Callable[[], int]]:
    from OpenSSL import SSL

    client, server = openssl_pair()

    def protect() -> int:
        for _ in range(100):
            client.send(PAYLOAD)  # type: ignore[attr-defined]
            client.bio_read(65536)  # type: ignore[attr-defined]
        return 100 * len(PAYLOAD)

    def unprotect() -> int:
        batch = []
        for _ in range(100):
            client.send(PAYLOAD)  # type: ignore[attr-defined]
            batch.append(client.bio_read(65536))  # type: ignore[attr-defined]
        start = time.perf_counter()
        for r in batch:
            server.bio_write(r)  # type: ignore[attr-defined]
            with contextlib.suppress(SSL.WantReadError):
                server.recv(4096)  # type: ignore[attr-defined]
        # only the receive side is timed: subtract the send time from the caller's clock
        unprotect.spent += time.perf_counter() - start  # type: ignore[attr-defined]
        return 100 * len(PAYLOAD)

    unprotect.spent = 0.0  # type: ignore[attr-defined]
    return protect, unprotect


def timed_only(fn: Callable[[], int], seconds: float) -> float:
    """Rate of a function that accounts its own timed section in ``fn.spent``."""
    fn.spent = 0.0  # type: ignore[attr-defined]
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += fn()
    spent: float = fn.spent  # type: ignore[attr-defined]
    return done / spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    args = parser.parse_args()
    s = args.seconds
    assert len(parse_records(ours_pair()[0].protect(PAYLOAD))[0][0].fragment) == 1200 + 24

    rows: list[tuple[str, float, float | None, str, float | None]] = []
    hs_ours = rate(ours_handshake, s)
    o_protect, o_unprotect = ours_record_benches()
    protect_ours = rate(o_protect, s) / 1e6
    unprotect_ours = timed_only(o_unprotect, s) / 1e6
    hs13 = rate(ours_handshake13, s)
    hs13_mlkem = rate(ours_handshake13_mlkem, s)
    p13, u13 = ours_record_benches(versions=V13)
    protect13 = rate(p13, s) / 1e6
    unprotect13 = timed_only(u13, s) / 1e6
    if openssl_available():
        hs_ossl: float | None = rate(openssl_handshake, s)
        p_protect, p_unprotect = openssl_record_benches()
        protect_ossl: float | None = rate(p_protect, s) / 1e6
        unprotect_ossl: float | None = timed_only(p_unprotect, s) / 1e6
    else:
        hs_ossl = protect_ossl = unprotect_ossl = None
    rows.append(("handshakes/s (in memory, both ends)", hs_ours, hs_ossl, "/s", None))
    rows.append(("record protect, 1200-byte payload", protect_ours, protect_ossl, "MB/s", None))
    rows.append(
        ("record unprotect, 1200-byte payload", unprotect_ours, unprotect_ossl, "MB/s", None)
    )
    rows.append(("DTLS 1.3 handshakes/s, x25519", hs13, hs_ossl, "/s", hs_ours))
    rows.append(("DTLS 1.3 handshakes/s, X25519MLKEM768", hs13_mlkem, hs_ossl, "/s", hs_ours))
    rows.append(("DTLS 1.3 record protect", protect13, protect_ossl, "MB/s", protect_ours))
    rows.append(("DTLS 1.3 record unprotect", unprotect13, unprotect_ossl, "MB/s", unprotect_ours))
    head = f"{'measurement':40} {'pyrtcstack':>12} {'pyOpenSSL':>12} {'ratio':>8}"
    print(head + f" {'vs our 1.2':>11}")
    for name, ours, theirs, unit, ours12 in rows:
        t = f"{theirs:12.1f}" if theirs is not None else f"{'n/a':>12}"
        ratio = f"{ours / theirs:8.2f}" if theirs else f"{'':>8}"
        vs12 = f"{ours / ours12:11.2f}" if ours12 else f"{'':>11}"
        print(f"{name:40} {ours:12.1f} {t} {ratio} {vs12}  {unit}")
    print("ratio = pyrtcstack / pyOpenSSL (DTLS 1.2: OpenSSL 3.0 has no DTLS 1.3); noisy on a")
    print("shared machine: quote medians of runs")


if __name__ == "__main__":
    main()
