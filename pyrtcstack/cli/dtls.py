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

from ..aio import DtlsSocket, open_dtls
from ..common.core import Address
from ..dtls import (
    SRTP_EXPORTER_LABEL,
    DtlsCertificate,
    DtlsConnection,
    DtlsError,
    DtlsRole,
    DtlsVersion,
    Fingerprint,
    SrtpProfile,
)
from ._args import LOOPBACK, CliError, host_port, listening, number, resolve

__all__ = ["DESCRIPTION", "register"]

DESCRIPTION = """\
A DTLS client and server, the counterpart of openssl s_client and s_server: DTLS 1.2
(RFC 6347) and DTLS 1.3 (RFC 9147, --versions 1.3 or 1.3,1.2), with the use_srtp
extension (RFC 5764) as WebRTC uses it. Prints the negotiated version, cipher suite, SRTP
profile, both fingerprints and the exported SRTP keying material in hex, then relays stdin
to the peer and the peer's data to stdout until EOF (on stdin: we send close_notify; from
the peer: close_notify or failure).

  pyrtcstack dtls listen 4444
  pyrtcstack dtls connect 127.0.0.1:4444 --versions 1.3

Like every pyrtcstack server, listen binds the loopback address unless given a host
(dtls listen 0.0.0.0:4444 serves the network).
"""

_PROFILE_NAMES = {p.name: p for p in SrtpProfile}
#: Record header (13) + AES-GCM explicit nonce (8) + tag (16): keeps a stdin chunk in one MTU.
_RECORD_OVERHEAD = 37


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dtls",
        help="DTLS 1.2/1.3 client and server (like openssl s_client/s_server)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="dtls_command", metavar="ACTION", required=True)
    connect = sub.add_parser(
        "connect",
        help="connect to a DTLS server at HOST:PORT",
        description="Connect to a DTLS server at HOST:PORT (like openssl s_client). " + _COMMON,
    )
    connect.add_argument(
        "target", metavar="HOST:PORT", type=host_port(), help="the server's address and port"
    )
    listen = sub.add_parser(
        "listen",
        help=f"accept one DTLS client on [HOST:]PORT (host {LOOPBACK} unless given)",
        description="Accept one DTLS client (like openssl s_server). " + _COMMON,
    )
    listen.add_argument(
        "target",
        metavar="[HOST:]PORT",
        type=host_port(default_host=LOOPBACK, listen=True),
        help=f"where to listen (host {LOOPBACK} unless given; 0.0.0.0:PORT serves the network; "
        "port 0: any free port)",
    )
    for p in (connect, listen):
        p.add_argument(
            "--srtp",
            action="append",
            metavar="PROFILE",
            type=_profile_arg,
            help="offer a use_srtp profile (repeatable; names like SRTP_AEAD_AES_128_GCM); "
            "default: all supported, 'none' to disable",
        )
        p.add_argument("--cert", type=Path, help="PEM certificate (default: generate ECDSA P-256)")
        p.add_argument("--key", type=Path, help="PEM private key for --cert")
        p.add_argument(
            "--fingerprint",
            action="append",
            type=_fingerprint_arg,
            metavar="'sha-256 AB:CD:..'",
            help="expected peer certificate fingerprint (repeatable); default: accept any",
        )
        p.add_argument(
            "--keylog", type=Path, metavar="FILE", help="append NSS key log lines to FILE"
        )
        p.add_argument(
            "--mtu",
            type=number(int, low=256, high=65507),
            default=1200,
            help="largest datagram to send, in bytes (default 1200)",
        )
        p.add_argument("--cookie", action="store_true", help="listen: demand a cookie exchange")
        p.add_argument(
            "--timeout",
            type=number(above=0),
            default=30.0,
            metavar="S",
            help="handshake timeout in seconds (default 30)",
        )
        p.add_argument(
            "--versions",
            default=(DtlsVersion.DTLS_1_2,),
            type=_versions,
            metavar="1.3,1.2",
            help="DTLS versions to speak, comma-separated (default 1.2; 1.3 is RFC 9147)",
        )
        p.set_defaults(func=_run)


_COMMON = (
    "Prints the negotiated version, cipher suite, SRTP profile, fingerprints and SRTP keying "
    "material, then relays stdin to the peer and the peer's data to stdout until EOF."
)


def _profile_arg(name: str) -> SrtpProfile | None:
    """One ``--srtp`` value: a profile name (OpenSSL's spelling too), or ``none``."""
    key = name.upper()
    if key == "NONE":
        return None
    if key == "SRTP_AES128_CM_SHA1_80":  # OpenSSL's spelling
        key = "SRTP_AES128_CM_HMAC_SHA1_80"
    if key not in _PROFILE_NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown SRTP profile {name!r}; one of {', '.join(_PROFILE_NAMES)} or none"
        )
    return _PROFILE_NAMES[key]


def _fingerprint_arg(text: str) -> Fingerprint:
    try:
        return Fingerprint.parse(text)
    except ValueError as exc:  # DtlsDecodeError
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def _profiles(chosen: list[SrtpProfile | None] | None) -> tuple[SrtpProfile, ...]:
    if not chosen:
        return (
            SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
            SrtpProfile.SRTP_AEAD_AES_128_GCM,
            SrtpProfile.SRTP_AEAD_AES_256_GCM,
        )
    return tuple(p for p in chosen if p is not None)


def _versions(text: str) -> tuple[DtlsVersion, ...]:
    try:
        versions = tuple(DtlsVersion.parse(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not versions:
        raise argparse.ArgumentTypeError("name at least one version (1.2, 1.3)")
    return versions


def _load_certificate(cert: Path, key: Path | None) -> DtlsCertificate:
    if key is None:
        raise CliError("--cert needs --key (the PEM private key)")
    try:
        cert_pem, key_pem = cert.read_bytes(), key.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {exc.filename}: {exc.strerror}") from None
    try:
        return DtlsCertificate.load_pem(cert_pem, key_pem)
    except (ValueError, TypeError) as exc:  # cryptography's answer to a bad or odd PEM
        raise CliError(f"cannot load {cert} / {key}: {exc}") from None


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args))


async def _main(args: argparse.Namespace) -> int:
    if args.cert is not None:
        certificate = _load_certificate(args.cert, args.key)
    elif args.key is not None:
        raise CliError("--key goes with --cert")
    else:
        certificate = DtlsCertificate.generate()
    fingerprints: list[Fingerprint] = args.fingerprint or []
    keylog_path: Path | None = args.keylog
    if keylog_path is not None:
        keylog_path.open("a").close()  # a path we cannot write fails now, not mid-handshake

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
        "versions": args.versions,
    }
    if is_client:
        remote = resolve(*args.target)
        conn = DtlsConnection(DtlsRole.CLIENT, remote_address=remote, **common)
        local: Address = ("::" if ":" in remote[0] else "0.0.0.0", 0)
    else:
        conn = DtlsConnection(DtlsRole.SERVER, use_cookie=args.cookie, **common)
        local = resolve(*args.target)
    print(f"local fingerprint: {certificate.fingerprint()}", file=sys.stderr, flush=True)
    with listening(local):
        # a client stops at an ICMP port unreachable (a wrong port), not after --timeout
        sock = await open_dtls(conn, local, stop_on_unreachable=is_client)
    if not is_client:
        print(f"listening on {sock.local_address[0]}:{sock.local_address[1]}", file=sys.stderr)
    try:
        done = await sock.handshake(args.timeout)
    except (DtlsError, TimeoutError) as exc:
        why = (
            f"no handshake within {args.timeout:g} s"
            if isinstance(exc, TimeoutError)
            else f"{type(exc).__name__}: {exc}"
        )
        print(f"pyrtcstack dtls {args.dtls_command}: handshake failed: {why}", file=sys.stderr)
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
