"""``pyrtcstack dtls connect|listen``: the DTLS counterpart of ``openssl s_client``/``s_server``.

Prints the negotiated version, cipher suite, SRTP profile, both fingerprints and the exported
SRTP keying material in hex, then relays stdin to the peer and the peer's data to stdout until
EOF (on stdin: we send close_notify; from the peer: close_notify or failure).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from pathlib import Path

from ..aio.dtls import DtlsSocket, open_dtls
from ..common.core import Address
from ..dtls import (
    DtlsCertificate,
    DtlsConnection,
    DtlsError,
    DtlsRole,
    DtlsVersion,
    Fingerprint,
    SrtpProfile,
)
from ..dtls.srtp import SRTP_EXPORTER_LABEL

__all__ = ["register"]

_PROFILE_NAMES = {p.name: p for p in SrtpProfile}
#: Record header (13) + AES-GCM explicit nonce (8) + tag (16): keeps a stdin chunk in one MTU.
_RECORD_OVERHEAD = 37


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("dtls", help="DTLS 1.2 client/server (like openssl s_client)")
    sub = parser.add_subparsers(dest="dtls_command", metavar="ACTION", required=True)
    connect = sub.add_parser("connect", help="connect to a DTLS server at HOST:PORT")
    connect.add_argument("target", metavar="HOST:PORT")
    listen = sub.add_parser("listen", help="accept one DTLS client on [HOST:]PORT")
    listen.add_argument("target", metavar="[HOST:]PORT")
    for p in (connect, listen):
        p.add_argument(
            "--srtp",
            action="append",
            metavar="PROFILE",
            help="offer a use_srtp profile (repeatable; names like SRTP_AEAD_AES_128_GCM); "
            "default: all supported, 'none' to disable",
        )
        p.add_argument("--cert", type=Path, help="PEM certificate (default: generate ECDSA P-256)")
        p.add_argument("--key", type=Path, help="PEM private key for --cert")
        p.add_argument(
            "--fingerprint",
            action="append",
            metavar="'sha-256 AB:CD:..'",
            help="expected peer certificate fingerprint (repeatable); default: accept any",
        )
        p.add_argument("--keylog", type=Path, help="append NSS key log lines to FILE")
        p.add_argument("--mtu", type=int, default=1200)
        p.add_argument("--cookie", action="store_true", help="listen: demand a cookie exchange")
        p.add_argument("--timeout", type=float, default=30.0, help="handshake timeout (s)")
        p.add_argument(
            "--versions",
            default="1.2",
            metavar="1.3,1.2",
            help="DTLS versions to speak, comma-separated (default 1.2; 1.3 is RFC 9147)",
        )
        p.set_defaults(func=_run)


def _address(text: str, default_host: str) -> Address:
    host, sep, port = text.rpartition(":")
    if not sep:
        host = default_host
    host = host.strip("[]") or default_host
    return (host, int(port))


def _profiles(names: list[str] | None) -> tuple[SrtpProfile, ...]:
    if not names:
        return (
            SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
            SrtpProfile.SRTP_AEAD_AES_128_GCM,
            SrtpProfile.SRTP_AEAD_AES_256_GCM,
        )
    if names == ["none"]:
        return ()
    out = []
    for name in names:
        key = name.upper()
        if key == "SRTP_AES128_CM_SHA1_80":  # OpenSSL's spelling
            key = "SRTP_AES128_CM_HMAC_SHA1_80"
        if key not in _PROFILE_NAMES:
            raise SystemExit(f"unknown SRTP profile {name!r}; one of {', '.join(_PROFILE_NAMES)}")
        out.append(_PROFILE_NAMES[key])
    return tuple(out)


def _versions(text: str) -> tuple[DtlsVersion, ...]:
    try:
        return tuple(DtlsVersion.parse(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise SystemExit(f"--versions: {exc}") from None


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args))


async def _main(args: argparse.Namespace) -> int:
    if args.cert is not None:
        if args.key is None:
            raise SystemExit("--cert needs --key")
        certificate = DtlsCertificate.load_pem(args.cert.read_bytes(), args.key.read_bytes())
    else:
        certificate = DtlsCertificate.generate()
    fingerprints = [Fingerprint.parse(f) for f in args.fingerprint or []]
    keylog_path: Path | None = args.keylog

    def keylog(line: str) -> None:
        if keylog_path is not None:
            with keylog_path.open("a") as f:
                f.write(line + "\n")

    is_client = args.dtls_command == "connect"
    common = {
        "certificate": certificate,
        "remote_fingerprints": fingerprints or None,
        "verify_fingerprint": bool(fingerprints),
        "srtp_profiles": _profiles(args.srtp),
        "mtu": args.mtu,
        "keylog": keylog if keylog_path is not None else None,
        "versions": _versions(args.versions),
    }
    if is_client:
        remote = _address(args.target, "127.0.0.1")
        conn = DtlsConnection(DtlsRole.CLIENT, remote_address=remote, **common)
        local: Address = ("::" if ":" in remote[0] else "0.0.0.0", 0)
    else:
        conn = DtlsConnection(DtlsRole.SERVER, use_cookie=args.cookie, **common)
        local = _address(args.target, "0.0.0.0")
    print(f"local fingerprint: {certificate.fingerprint()}", file=sys.stderr, flush=True)
    sock = await open_dtls(conn, local)
    if not is_client:
        print(f"listening on {sock.local_address[0]}:{sock.local_address[1]}", file=sys.stderr)
    try:
        done = await sock.handshake(args.timeout)
    except (DtlsError, TimeoutError) as exc:
        print(f"handshake failed: {exc!r}", file=sys.stderr)
        sock.endpoint.close() if sock.endpoint else None
        return 1
    report = [
        f"version: {done.version}",
        f"cipher suite: {done.cipher_suite.iana_name}",
        f"srtp profile: {done.srtp_profile.name if done.srtp_profile else 'none'}",
        f"local fingerprint: {certificate.fingerprint()}",
        f"peer fingerprint: {done.peer_fingerprint}",
    ]
    if done.srtp_profile is not None:
        material = conn.export_keying_material(
            SRTP_EXPORTER_LABEL, done.srtp_profile.keying_material_length
        )
        report.append(f"keying material ({SRTP_EXPORTER_LABEL.decode()}): {material.hex().upper()}")
    print("\n".join(report), file=sys.stderr, flush=True)
    return await _relay(sock)


async def _relay(sock: DtlsSocket) -> int:
    loop = asyncio.get_running_loop()

    lines: asyncio.Queue[bytes] = asyncio.Queue()
    chunk = max(1, sock.connection.mtu - _RECORD_OVERHEAD)

    def read_stdin() -> None:
        # A daemon thread on the raw descriptor (no buffered-reader lock), so a read still
        # blocked when the peer closes never delays or breaks interpreter exit.
        fd = sys.stdin.fileno()
        while True:
            try:
                data = os.read(fd, chunk)
            except OSError:
                data = b""
            try:
                loop.call_soon_threadsafe(lines.put_nowait, data)
            except RuntimeError:  # the loop already closed: we are exiting
                return
            if not data:
                return

    threading.Thread(target=read_stdin, daemon=True).start()

    async def pump_stdin() -> None:
        while True:
            line = await lines.get()
            if not line:
                return
            sock.send(line)

    async def pump_peer() -> None:
        while True:
            data = await sock.recv()
            if data is None:
                return
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()

    stdin_task = asyncio.ensure_future(pump_stdin())
    peer_task = asyncio.ensure_future(pump_peer())
    finished, _ = await asyncio.wait({stdin_task, peer_task}, return_when=asyncio.FIRST_COMPLETED)
    if stdin_task in finished:
        sock.close()
        peer_task.cancel()
    else:
        stdin_task.cancel()
        assert sock.endpoint is not None
        sock.endpoint.close()
    if sock.error is not None:
        print(f"connection failed: {sock.error!r}", file=sys.stderr)
        return 1
    print("closed", file=sys.stderr)
    return 0
