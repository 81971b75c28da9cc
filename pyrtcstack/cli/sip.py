"""``pyrtcstack sip explain|call|listen``: a SIP message explained field by field, a call
to a SIP URI, a user agent that answers (plain RTP/AVP SDP with no media sent, or with ``--webrtc``
a PeerConnection: ICE + DTLS-SRTP and a PCMU tone).

``--trace`` narrates the call: every SIP message in and out (:func:`pyrtcstack.sip.describe`),
each transaction state and timer, the call's steps, and with ``--webrtc`` the
PeerConnection's ICE, DTLS and SRTP steps, in one timeline on one clock. The narration comes
from the cores' observation points (a :class:`~pyrtcstack.sip.SipTracer` on the user agent,
``Settings.tracer`` on the PeerConnection); this module only prints. We are ``A`` when we
call and ``B`` when we answer. A digest password (``$SIP_PASSWORD`` or ``--password-file``,
never an argument) is in no line: the trace shows who the credentials are for, not them."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import signal
import sys
from typing import Any

from pyrtcstack.sip import (
    DigestClient,
    LocateError,
    SipParseError,
    SipTarget,
    SipTracer,
    SipUri,
    explain_message,
    parse_message,
)

from ._args import (
    CliError,
    client_tls,
    format_address,
    host_port,
    listening,
    number,
    read_input,
    server_tls,
)
from ._timeline import Timeline

_DURATION_MAX = 86_400.0
#: Where ``sip call`` (a 401/407) and ``sip listen --register`` take the digest password
#: from when no ``--password-file`` is given (never argv).
PASSWORD_ENV = "SIP_PASSWORD"

__all__ = ["register"]


def _normalise(data: bytes) -> bytes:
    """A pasted message has lost its CRLFs: put them back (RFC 3261 §7 needs CRLF), and
    drop a Content-Length the paste made wrong (the body is what was pasted)."""
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n").lstrip(b"\r\n")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return head + b"\r\n\r\n"
    framing = (b"content-length", b"l")
    lines = [
        ln for ln in head.split(b"\r\n") if ln.split(b":", 1)[0].strip().lower() not in framing
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _explain(args: argparse.Namespace) -> int:
    data = read_input(args.file)
    try:
        message = parse_message(_normalise(data))
    except SipParseError as exc:
        raise CliError(f"{args.file}: not a valid SIP message: {exc}", code=1) from None
    sys.stdout.write(explain_message(message))
    return 0


def _sdp(args: argparse.Namespace, host: str) -> bytes:
    """The SDP we offer or answer: ``--sdp FILE``, else PCMU on RTP/AVP at port 9 (the
    discard port: this command sends no media)."""
    if args.sdp is not None:
        try:
            with open(args.sdp, "rb") as f:
                return f.read()
        except OSError as exc:
            raise CliError(f"cannot read {args.sdp}: {exc.strerror}", code=1) from None
    return (
        f"v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    ).encode()


def _print(text: str) -> None:
    print(text, flush=True)


def _timeline(args: argparse.Namespace) -> Timeline | None:
    """``--trace`` (runs of SRTP folded) or ``--trace-all``: the printed timeline."""
    if not (args.trace or args.trace_all):
        return None
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # each step as it happens
    return Timeline(sys.stdout, True, summarise=not args.trace_all)


def _trace_sip(phone: Any, timeline: Timeline | None, me: str, other: str) -> None:
    """Our user agent's observer: a :class:`SipTracer` printing into ``timeline``."""
    if timeline is not None:
        callback = timeline.tracer(me, other, received=True)
        phone.agent.observer = SipTracer(callback, phone.agent.layer.transport)


def _peerconnection(
    host: str, timeline: Timeline | None = None, me: str = "A", other: str = "B"
) -> tuple[Any, list[Any]]:
    """``--webrtc``: a PeerConnection sending a 440 Hz PCMU tone from ``host``, and the
    list its remote tracks arrive in; traced into ``timeline`` when there is one."""
    from pyrtcstack.aio import PeerConnection
    from pyrtcstack.media import G711Track, ToneSource
    from pyrtcstack.peerconnection import Settings

    tracer = timeline.tracer(me, other, received=True) if timeline is not None else None
    pc = PeerConnection(settings=Settings(host_addresses=[host], tracer=tracer))
    pc.add_track(G711Track(ToneSource(440)))
    tracks: list[Any] = []
    pc.on("track", tracks.append)
    if timeline is not None:
        loop = asyncio.get_running_loop()
        for name in ("iceconnectionstatechange", "connectionstatechange"):
            label = "iceConnectionState" if name.startswith("ice") else "connectionState"
            pc.on(
                name,
                lambda state, label=label: timeline.say(
                    loop.time(), me, "state", f"{label} → {state}"
                ),
            )
    return pc, tracks


def _credentials(args: argparse.Namespace) -> DigestClient | None:
    """Digest credentials for a 401/407 (RFC 3261 §22): the password from
    ``--password-file`` or ``$SIP_PASSWORD``, never from the command line."""
    if args.password_file is not None:
        try:
            with open(args.password_file, encoding="utf-8") as f:
                password = f.readline().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise CliError(f"cannot read {args.password_file}: {why}", code=1) from None
    else:
        password = os.environ.get(PASSWORD_ENV, "")
    if not password:
        return None
    try:
        return DigestClient(args.auth_user or args.user, password)
    except ValueError as exc:
        raise CliError(f"--auth-user: {exc}", code=2) from None


async def _report_media(pc: Any, tracks: list[Any]) -> None:
    with contextlib.suppress(TimeoutError):
        await pc.wait_connection_state("connected", "failed", timeout=10)
    frames = sum(t.frames_received for t in tracks)
    _print(f"media: {pc.connection_state}, ICE + DTLS-SRTP, {frames} audio frames received")


def _check_media_args(args: argparse.Namespace) -> None:
    if args.webrtc and args.sdp is not None:
        raise CliError("--webrtc and --sdp cannot be used together", code=2)


def _failure(phone: Any, exc: BaseException, timeout: float) -> str:
    """Why a call failed, in one line: the transport's reason when the connection could
    not be opened (a refused port, a TLS certificate refused), else the SIP status."""
    reason = getattr(phone.endpoint, "last_error", None)
    if reason:
        return f"cannot connect to {reason}"
    return str(exc) or f"no final answer in {timeout:g} s"


#: The transports ``sip call`` can send over (no TLS over TCP, no SCTP).
_CALL_TRANSPORTS = ("UDP", "TCP", "WS", "WSS")


async def _targets(args: argparse.Namespace, uri: SipUri) -> list[SipTarget]:
    """Where to send the INVITE: ``--via``, else RFC 3263 §4 (NAPTR, SRV, A/AAAA over
    ``--dns-server`` or /etc/resolv.conf; no DNS at all for a numeric host)."""
    if args.via is not None:
        transport = (args.transport or uri.param("transport") or "udp").upper()
        if uri.scheme == "sips" and transport in ("UDP", "TCP"):
            transport = "TLS"  # RFC 3263 §4.1: sips: is TLS, never UDP
        if transport not in _CALL_TRANSPORTS:
            raise CliError(f"{args.uri} needs {transport}, which we do not support here", code=1)
        return [SipTarget(args.via[0], args.via[1], transport, args.via[0])]
    return await _locate(args, uri, _CALL_TRANSPORTS, args.transport, "the server of")


async def _locate(
    args: argparse.Namespace,
    uri: SipUri,
    transports: tuple[str, ...],
    transport: str | None,
    what: str,
) -> list[SipTarget]:
    """RFC 3263 §4 for ``uri`` (NAPTR, SRV, A/AAAA over ``--dns-server`` or
    /etc/resolv.conf; no DNS for a numeric host), each step printed; one line if it fails."""
    from pyrtcstack.aio import DnsLookupError, DnsResolver, locate_sip_server, nameservers

    resolver = DnsResolver([args.dns_server] if args.dns_server else nameservers())
    try:
        locator = await locate_sip_server(uri, resolver, transports=transports, transport=transport)
    except (LocateError, DnsLookupError) as exc:
        raise CliError(f"cannot locate {what} {uri}: {exc}", code=1) from None
    for step in locator.steps if locator.queries else ():
        _print(f"dns: {step}")
    return locator.targets


def _reachable(phone: Any, targets: list[SipTarget], missing: str) -> list[SipTarget]:
    """The located ``targets`` in the address family of ``phone``'s socket (CliError
    ``missing`` + the family when none is), each named for the phone's wss:// certificate
    check (the certificate names the host the URI named)."""
    family_v6 = ":" in phone.local[0]
    targets = [t for t in targets if (":" in t.address) == family_v6]
    if not targets:
        family = "IPv6" if family_v6 else "IPv4"
        raise CliError(missing.format(family=family), code=1)
    server_names = getattr(phone.endpoint, "server_names", None)
    if server_names is not None:
        for target in targets:
            server_names[target.destination] = target.name
    return targets


async def _call(args: argparse.Namespace) -> int:
    from pyrtcstack.aio import SipCallError, SipPhone, call_with_peerconnection

    _check_media_args(args)
    from pyrtcstack.aio import source_address_for

    try:
        uri = SipUri.parse(args.uri)
    except SipParseError as exc:
        raise CliError(f"{args.uri}: not a SIP URI: {exc}", code=2) from None
    credentials = _credentials(args)  # a mistake in them is told before any DNS question
    targets = await _targets(args, uri)
    transport = targets[0].transport
    if args.ca is not None and transport != "WSS":
        raise CliError("--ca goes with --transport wss", code=2)
    client_ssl = client_tls(args.ca) if transport == "WSS" else None
    local = args.local or (source_address_for(targets[0].destination), 0)
    timeline = _timeline(args)
    with listening(local):
        phone = await SipPhone.open(
            local,
            user=args.user,
            transport=transport,
            credentials=credentials,
            client_ssl=client_ssl,
        )
    _trace_sip(phone, timeline, "A", "B")
    try:
        targets = _reachable(
            phone, targets, f"{args.uri}: no server with an {{family}} address like --local"
        )
    except CliError:
        phone.close()
        raise
    pc, tracks = _peerconnection(phone.local[0], timeline) if args.webrtc else (None, [])
    if pc is not None:
        targets = targets[:1]  # one offer per PeerConnection: no failover with --webrtc
    try:
        for i, target in enumerate(targets):
            server = target.destination
            _print(f"calling {args.uri} via {format_address(server)} over {transport}")
            try:
                if pc is not None:
                    call_id = await call_with_peerconnection(phone, pc, args.uri, server,
                                                             timeout=args.timeout)  # fmt: skip
                    answer = pc.remote_description.sdp.encode()
                else:
                    call_id, answer = await phone.call(args.uri, server,
                                                       _sdp(args, phone.local[0]),
                                                       timeout=args.timeout)  # fmt: skip
            except SipCallError as exc:
                if exc.status in (408, 503) and i + 1 < len(targets):  # RFC 3263 §4.3
                    _print(f"{exc}: trying the next server (RFC 3263 §4.3)")
                    continue
                why = _failure(phone, exc, args.timeout)
                raise CliError(f"call failed: {why}", code=1) from None
            except TimeoutError:
                raise CliError(
                    f"call failed: no final answer in {args.timeout:g} s", code=1
                ) from None
            break
        _print(f"answered (Call-ID {call_id}); the answer's SDP has {len(answer or b'')} octets")
        started = asyncio.get_running_loop().time()
        if pc is not None:
            await _report_media(pc, tracks)
        elapsed = asyncio.get_running_loop().time() - started
        await asyncio.sleep(max(0.0, args.duration - elapsed))
        if pc is not None:
            await _report_media(pc, tracks)
        with contextlib.suppress(TimeoutError):
            await phone.hang_up(call_id, timeout=10)
        _print("hung up")
        return 0
    finally:
        if pc is not None:
            await pc.close()
        phone.close()
        if timeline is not None:
            timeline.flush()


def _registrar(args: argparse.Namespace) -> SipUri | None:
    """``--register``: the registrar URI, checked before any socket."""
    if args.register is None:
        return None
    try:
        return SipUri.parse(args.register)
    except SipParseError as exc:
        raise CliError(f"{args.register}: not a SIP URI: {exc}", code=2) from None


async def _registrar_targets(args: argparse.Namespace, uri: SipUri, phone: Any) -> list[Any]:
    """Where the REGISTERs go: RFC 3263 §4 for the registrar's URI, on the transport we
    listen on and in the family of our address."""
    transport = args.transport.upper()
    located = await _locate(args, uri, (transport,), transport, "the registrar")
    return _reachable(phone, located, f"{args.register}: no registrar with an {{family}} address")


async def _register(phone: Any, uri: SipUri, args: Any) -> None:
    """REGISTER at each located registrar in turn until one answers (RFC 3263 §4.3: a
    503, a timeout or a transport error moves on to the next)."""
    from pyrtcstack.aio import SipCallError

    registrar = args.register
    targets = await _registrar_targets(args, uri, phone)
    for i, target in enumerate(targets):
        try:
            expires = await phone.register(registrar, target.destination, timeout=args.timeout)
        except SipCallError as exc:
            if exc.status in (408, 503) and i + 1 < len(targets):
                _print(f"{exc}: trying the next registrar (RFC 3263 §4.3)")
                continue
            raise CliError(f"registration at {registrar} failed: {exc}", code=1) from None
        except TimeoutError:
            why = f"no answer in {args.timeout:g} s"
            raise CliError(f"registration at {registrar} failed: {why}", code=1) from None
        _print(f"registered at {registrar} for {expires} s (refreshed before it lapses)")
        return


async def _unregister(phone: Any) -> None:
    """RFC 3261 §10.2.2: the binding removed when the command ends (Ctrl-C, SIGTERM)."""
    from pyrtcstack.aio import SipCallError

    try:
        await phone.unregister(timeout=5)
        _print("unregistered")
    except (SipCallError, TimeoutError) as exc:
        _print(f"unregister failed: {exc or 'no answer in 5 s'}")


async def _listen(args: argparse.Namespace) -> int:
    from pyrtcstack.aio import SipPhone

    _check_media_args(args)
    if (args.cert is None) != (args.key is None):
        raise CliError("--cert and --key go together", code=2)
    if (args.transport == "wss") != (args.cert is not None):
        wss = args.transport == "wss"
        why = "needs --cert and --key (our certificate)" if wss else "goes with --cert/--key"
        raise CliError(f"--transport wss {why}", code=2)
    server_ssl = server_tls(args.cert, args.key) if args.cert else None
    registrar = _registrar(args)
    credentials = _credentials(args)
    transport = args.transport.upper()
    timeline = _timeline(args)
    with listening(args.address):
        phone = await SipPhone.open(
            args.address,
            user=args.user,
            transport=transport,
            credentials=credentials,
            server_ssl=server_ssl,
        )
    _trace_sip(phone, timeline, "B", "A")
    # SIGTERM ends the command as Ctrl-C does, so the binding is removed either way
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    terminated: list[bool] = []

    def on_sigterm() -> None:
        terminated.append(True)
        if task is not None:
            task.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        return await _serve(phone, args, registrar, timeline)
    except asyncio.CancelledError:
        if terminated:
            return 143  # 128 + SIGTERM
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


async def _serve(
    phone: Any,
    args: argparse.Namespace,
    registrar: SipUri | None,
    timeline: Timeline | None,
) -> int:
    """Answer calls until ``--once``'s call ends (or the task is cancelled); the binding
    at ``registrar`` is made first and removed at the end; each call traced into
    ``timeline`` (``--trace``)."""
    from pyrtcstack.aio import SipCallError, answer_with_peerconnection

    transport = args.transport.upper()
    registered = False
    try:
        host, port = phone.local
        _print(f"listening on sip:{args.user}@{host}:{port} over {transport}")
        if registrar is not None:
            await _register(phone, registrar, args)
            registered = True
        while True:
            call = await phone.incoming()
            _print(f"call from {call.caller} (Call-ID {call.call_id})")
            pc, tracks = _peerconnection(host, timeline, "B", "A") if args.webrtc else (None, [])
            try:
                try:
                    if pc is not None:
                        await answer_with_peerconnection(phone, pc, call)
                    else:
                        await phone.answer(call.call_id, _sdp(args, host))
                except (SipCallError, TimeoutError) as exc:
                    _print(f"call {call.call_id} failed: {exc}")
                    continue
                _print("answered; waiting for the caller to hang up")
                if pc is not None:
                    await _report_media(pc, tracks)
                with contextlib.suppress(TimeoutError):
                    await phone.wait_ended(call.call_id, timeout=_DURATION_MAX)
                if pc is not None:
                    frames = sum(t.frames_received for t in tracks)
                    _print(f"media: {frames} audio frames received")
            finally:
                if pc is not None:
                    await pc.close()
                if timeline is not None:
                    timeline.flush()
            _print(f"call {call.call_id} ended")
            if args.once:
                return 0
    finally:
        if registered:
            await _unregister(phone)
        phone.close()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sip", help="explain a SIP message (RFC 3261)", description=__doc__
    )
    commands = parser.add_subparsers(dest="sip_command", metavar="ACTION", required=True)
    p = commands.add_parser(
        "explain",
        help="annotated walk through a SIP request or response, with RFC references",
        description="Walk through a SIP message (a file, or - for standard input; LF line ends "
        "are accepted, as from a paste) field by field: what each means, with its RFC 3261 "
        "section, the transaction and dialog it belongs to, and its body.",
    )
    p.add_argument("file", metavar="FILE", help="SIP message file, or - for standard input")
    p.set_defaults(func=_explain)
    p = commands.add_parser(
        "call",
        help="call a SIP URI (INVITE with an SDP offer), hang up after --duration",
        description="Call URI: INVITE with an SDP offer (--sdp FILE, else PCMU with no media "
        "sent), wait for the answer, hang up after --duration seconds. Exit 1 if the call "
        "fails (the status is printed). A domain name is located as RFC 3263 says (NAPTR, "
        "SRV, A/AAAA); a 503 or a timeout moves on to the next server.",
    )
    p.add_argument(
        "uri", metavar="URI", help="sip:user@host[:port] (a name is looked up, RFC 3263)"
    )
    p.add_argument("--via", type=host_port(default_port=5060), default=None,
                   help="send to HOST:PORT (a proxy) instead of the URI's host")  # fmt: skip
    p.add_argument("--dns-server", type=host_port(default_port=53), default=None,
                   help="DNS server for the URI's domain (default: resolv.conf)")  # fmt: skip
    p.add_argument("--local", type=host_port(default_port=0, listen=True), default=None,
                   help="local HOST:PORT (default: the address toward the server)")  # fmt: skip
    p.add_argument("--transport", choices=["udp", "tcp", "ws", "wss"], default=None,
                   help="default: the URI's, else DNS's (RFC 3263), else udp; "
                   "wss = WebSocket over TLS (RFC 7118)")  # fmt: skip
    p.add_argument("--user", default="pyrtcstack", help="our user name (From, Contact)")
    p.add_argument("--ca", default=None, metavar="FILE",
                   help="wss: trust only this PEM CA file (default: the system store)")  # fmt: skip
    p.add_argument("--sdp", default=None, metavar="FILE", help="the SDP offer to send")
    p.add_argument("--webrtc", action="store_true",
                   help="offer a PeerConnection (ICE + DTLS-SRTP) with a PCMU tone")  # fmt: skip
    p.add_argument("--duration", type=number(low=0, high=_DURATION_MAX), default=5.0,
                   help="seconds before hanging up (default 5)")  # fmt: skip
    p.add_argument("--timeout", type=number(above=0, high=_DURATION_MAX), default=60.0,
                   help="seconds to wait for the answer (default 60)")  # fmt: skip
    p.add_argument("--auth-user", default=None,
                   help="digest user name for a 401/407 (default: --user)")  # fmt: skip
    p.add_argument("--password-file", default=None, metavar="FILE",
                   help=f"digest password: the first line of FILE (default: ${PASSWORD_ENV}; "
                   "never on the command line)")  # fmt: skip
    p.add_argument("--trace", action="store_true",
                   help="narrate every SIP message, transaction step and (--webrtc) ICE/DTLS "
                   "step; runs of SRTP packets: one line each")  # fmt: skip
    p.add_argument("--trace-all", action="store_true",
                   help="like --trace, with every packet on its own line")  # fmt: skip
    p.set_defaults(func=lambda a: asyncio.run(_call(a)))
    p = commands.add_parser(
        "listen",
        help="answer SIP calls (180, 200 with an SDP answer) until interrupted",
        description="Listen on HOST:PORT (default 127.0.0.1:5060) and answer every INVITE "
        "with 180 and 200 (--sdp FILE, else PCMU with no media sent); print each call.",
    )
    p.add_argument("address", nargs="?", metavar="HOST:PORT",
                   type=host_port(default_port=5060, default_host="127.0.0.1", listen=True),
                   default=("127.0.0.1", 5060),
                   help="where to listen (default 127.0.0.1:5060)")  # fmt: skip
    p.add_argument("--transport", choices=["udp", "tcp", "ws", "wss"], default="udp",
                   help="default udp; ws = WebSocket, wss = over TLS (RFC 7118)")  # fmt: skip
    p.add_argument("--user", default="pyrtcstack", help="our user name (Contact)")
    p.add_argument("--cert", default=None, metavar="FILE",
                   help="wss: our PEM certificate chain (with --key)")  # fmt: skip
    p.add_argument("--key", default=None, metavar="FILE", help="wss: the PEM private key")
    p.add_argument("--sdp", default=None, metavar="FILE", help="the SDP answer to send")
    p.add_argument("--webrtc", action="store_true",
                   help="answer with a PeerConnection (ICE + DTLS-SRTP), PCMU tone")  # fmt: skip
    p.add_argument("--once", action="store_true", help="exit after the first call ends")
    p.add_argument(
        "--register", metavar="REGISTRAR", default=None,
        help="register sip:USER@HOST at this registrar (sip:HOST[:PORT]; a name is looked "
        f"up, RFC 3263) while listening: refreshed, removed on exit; password from "
        f"--password-file or ${PASSWORD_ENV}",
    )  # fmt: skip
    p.add_argument("--dns-server", type=host_port(default_port=53), default=None,
                   help="DNS server for the registrar's domain (default: resolv.conf)")  # fmt: skip
    p.add_argument("--auth-user", default=None, help="digest user name (default --user)")
    p.add_argument("--password-file", default=None, metavar="FILE",
                   help=f"digest password: the first line of FILE (default: ${PASSWORD_ENV}; "
                   "never on the command line)")  # fmt: skip
    p.add_argument("--timeout", type=number(above=0, high=_DURATION_MAX), default=40.0,
                   help="seconds to wait for the registrar (default 40)")  # fmt: skip
    p.add_argument("--trace", action="store_true",
                   help="narrate every SIP message, transaction step and (--webrtc) ICE/DTLS "
                   "step; runs of SRTP packets: one line each")  # fmt: skip
    p.add_argument("--trace-all", action="store_true",
                   help="like --trace, with every packet on its own line")  # fmt: skip
    p.set_defaults(func=lambda a: asyncio.run(_listen(a)))
