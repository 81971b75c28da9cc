"""``PeerConnection``: the W3C RTCPeerConnection in snake case, on asyncio.

One :class:`~pyrtcstack.aio.multisocket.MultiSocketDriver` drives its
:class:`~pyrtcstack.peerconnection.PeerConnectionCore` from one UDP socket per local host
candidate and one timer handle (re-armed from ``core.get_timer()`` after every mutation,
API calls included: there is no flush). Nothing blocks the loop;
:meth:`PeerConnection.close` releases every socket and the timer.

::

    pc = PeerConnection(settings=Settings(allow_loopback=True))
    channel = pc.create_data_channel("chat")
    channel.on("message", print)
    await pc.set_local_description()            # implicit createOffer
    await pc.wait_gathering_complete()
    send_to_peer(pc.local_description.to_dict())
    await pc.set_remote_description(Description.from_dict(answer))

Events (``pc.on(name, callback)``; coroutine callbacks run as tasks): ``icecandidate``,
``icegatheringstatechange``, ``iceconnectionstatechange``, ``connectionstatechange``,
``signalingstatechange``, ``negotiationneeded``, ``datachannel``, ``track``, and the
non-standard ``dtlsstatechange``. Data channels emit ``open``, ``message``,
``bufferedamountlow``, ``error``, ``closing`` and ``close``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ipaddress
import logging
import random
import socket
import ssl
from collections.abc import Callable
from typing import IO, Any

from ..common.core import Address, Event
from ..datachannel import (
    ChannelBufferedAmountLow,
    ChannelClosed,
    ChannelClosing,
    ChannelError,
    ChannelMessage,
    ChannelOpen,
    ChannelOptions,
    DataChannelOpened,
    Priority,
)
from ..datachannel import DataChannel as CoreChannel
from ..ice import TurnServer
from ..media import Track
from ..peerconnection import (
    Configuration,
    ConnectionStateChange,
    Description,
    DtlsStateChange,
    IceCandidateError,
    IceCandidateEvent,
    IceCandidateInit,
    IceConnectionStateChange,
    IceGatheringStateChange,
    InvalidStateError,
    NegotiationNeeded,
    PeerConnectionCore,
    Settings,
    SignalingStateChange,
    TrackEvent,
    TrackFrame,
    Transceiver,
    collect_stats,
)
from ..sdp import Candidate, CodecCapability
from .channels import (
    MAX_TRACK_QUEUE,
    DataChannel,
    EventEmitter,
    Flag,
    RemoteTrack,
    forget_task,
)
from .ice import MAX_MDNS_QUERIES, MdnsPublisher, TurnStream, host_addresses, resolve_mdns
from .multisocket import DatagramSender, MultiSocketDriver
from .udp import UdpSocket, bind_udp, request_buffers

__all__ = [
    "MAX_BATCH",
    "MAX_TRACK_QUEUE",
    "SOCKET_BUFFER",
    "DataChannel",
    "EventEmitter",
    "PeerConnection",
    "RemoteTrack",
]

#: Datagrams read from one socket per readiness callback.
MAX_BATCH = 64
#: Socket buffer sizes asked for (best effort), so a burst is not dropped by the kernel:
#: 4 MiB (1 MiB overflowed under Chromium's bursts; docs/security.md, "Peer connection:
#: socket buffers"). The kernel caps it at net.core.rmem_max / wmem_max (logged once).
SOCKET_BUFFER = 4 << 20
_LOG = logging.getLogger("pyrtcstack.aio")
#: Whether the kernel's cut of our buffer request was logged (once per process).
_buffer_cut_logged = False


def _request_buffers(raw: socket.socket) -> None:
    """Ask for :data:`SOCKET_BUFFER` buffers; log once per process (INFO, one line) when
    the kernel gave less (``net.core.rmem_max`` / ``wmem_max`` below the request): bursts
    beyond the smaller buffer are then dropped by the kernel (docs/security.md, "Peer
    connection: socket buffers"). INFO, not WARNING: a default Debian cuts every request
    to 212,992 bytes, and Python prints an unconfigured logger's warnings to stderr, which
    would put the line into every CLI session (the demo, send, receive) of such a host."""
    global _buffer_cut_logged
    rcv, snd = request_buffers(raw, SOCKET_BUFFER)
    if (rcv < SOCKET_BUFFER or snd < SOCKET_BUFFER) and not _buffer_cut_logged:
        _buffer_cut_logged = True
        _LOG.info(
            "UDP socket buffers cut by the kernel: asked %d bytes, got receive %d, send %d "
            "(raise net.core.rmem_max / wmem_max to avoid drops in bursts)",
            SOCKET_BUFFER,
            rcv,
            snd,
        )


#: Bytes queued by data channels in one loop iteration after which they start leaving at
#: once (see ``sent_by_application``) instead of at the next loop iteration.
EAGER_FLUSH_BYTES = 256 * 1024


class PeerConnection(EventEmitter):
    """RTCPeerConnection (webrtc-pc §4) in snake case; see the module docstring and the
    W3C → snake_case table in docs/peerconnection.md."""

    def __init__(
        self,
        configuration: Configuration | None = None,
        settings: Settings | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__()
        self._loop = asyncio.get_running_loop()
        self.settings = settings or Settings()
        self._keylog_file: IO[str] | None = None
        if self.settings.keylog_file is not None and self.settings.keylog is None:
            self._keylog_file = open(self.settings.keylog_file, "a")  # noqa: SIM115
            keylog_file = self._keylog_file

            def write_keylog(line: str) -> None:
                keylog_file.write(line.rstrip("\n") + "\n")
                keylog_file.flush()

            self.settings.keylog = write_keylog
        self.core = PeerConnectionCore(configuration, self.settings, rng)
        #: the one driver of the core: its sockets, its timer, the drain
        self._driver = MultiSocketDriver(self._loop, self.core, self._dispatch)
        #: UDP sockets by local address, and TCP/TLS streams to TURN servers by the
        #: ICE agent's pseudo socket key (both have the sending side of a socket)
        self._sockets: dict[Address, DatagramSender] = self._driver.sockets
        # running tasks as dict keys (an empty set is 216 bytes, an empty dict 64)
        self._stream_tasks: dict[asyncio.Task[bool], None] = {}
        self._mdns_tasks: dict[asyncio.Task[None], None] = {}
        #: answers mDNS queries for our hidden host candidates (Settings.mdns_host_candidates)
        self.mdns_publisher: MdnsPublisher | None = None
        #: TURN server (address, transport) -> the URL's host name (TLS server name)
        self._turn_names: dict[tuple[Address, str], str] = {}
        #: (server address, transport) -> its URL as configured (icecandidateerror's url)
        self._server_urls: dict[tuple[Address, str], str] = {}
        self._unflushed = 0  # bytes queued by data channels in this loop iteration
        self._channels: dict[int, DataChannel] = {}
        self._tracks: dict[int, RemoteTrack] = {}
        self._servers_resolved = False
        self._gathering_complete = Flag()
        self._state_changed = Flag()
        self._closed_socket_errors = 0
        self._closed_send_drops = 0

    # ------------------------------------------------------------------ state
    @property
    def signaling_state(self) -> str:
        return self.core.signaling_state

    @property
    def ice_gathering_state(self) -> str:
        return self.core.ice_gathering_state

    @property
    def ice_connection_state(self) -> str:
        return self.core.ice_connection_state

    @property
    def connection_state(self) -> str:
        return self.core.connection_state

    @property
    def local_description(self) -> Description | None:
        return self.core.local_description

    @property
    def remote_description(self) -> Description | None:
        return self.core.remote_description

    @property
    def current_local_description(self) -> Description | None:
        return self.core.current_local_description

    @property
    def current_remote_description(self) -> Description | None:
        return self.core.current_remote_description

    @property
    def pending_local_description(self) -> Description | None:
        return self.core.pending_local_description

    @property
    def pending_remote_description(self) -> Description | None:
        return self.core.pending_remote_description

    @property
    def local_addresses(self) -> list[Address]:
        """The local addresses of our UDP sockets (not the TURN streams)."""
        return [a for a, s in self._sockets.items() if isinstance(s, UdpSocket)]

    @property
    def turn_streams(self) -> list[TurnStream]:
        """The TCP/TLS connections to TURN servers (``turn:...?transport=tcp``,
        ``turns:``), with their ``connect_errors`` and ``framing_errors``."""
        return [s for s in self._sockets.values() if isinstance(s, TurnStream)]

    # ------------------------------------------------------------------ configuration
    def get_configuration(self) -> Configuration:
        return self.core.configuration

    def set_configuration(self, configuration: Configuration) -> None:
        """W3C setConfiguration (see ``PeerConnectionCore.set_configuration``): ICE
        servers and the transport policy apply at the next gathering phase (call
        ``restart_ice()`` to have one); certificates, bundle and rtcp-mux policies cannot
        change (``InvalidModificationError``)."""
        self.core.set_configuration(configuration)
        self._servers_resolved = False  # resolved again before the next offer/answer

    # ------------------------------------------------------------------ signaling
    async def create_offer(self, *, ice_restart: bool = False) -> Description:
        await self._prepare()
        desc = self.core.create_offer(self._now(), ice_restart=ice_restart)
        self._driver.drain()
        return desc

    async def create_answer(self) -> Description:
        await self._prepare()
        desc = self.core.create_answer(self._now())
        self._driver.drain()
        return desc

    async def set_local_description(
        self, description: Description | dict[str, Any] | None = None
    ) -> None:
        """Explicit, or implicit (None: createOffer/createAnswer as the state asks)."""
        await self._prepare()
        if description is None:
            if self.signaling_state in ("stable", "have-local-offer", "have-remote-pranswer"):
                description = await self.create_offer()
            else:
                description = await self.create_answer()
        elif isinstance(description, dict):
            description = Description.from_dict(description)
        self.core.set_local_description(description, self._now())
        self._open_new_turn_streams()
        self._driver.drain()
        if description.type != "rollback" and not self.core.ice.gathering_started:
            await self._start_gathering()

    async def set_remote_description(self, description: Description | dict[str, Any]) -> None:
        await self._prepare()
        if isinstance(description, dict):
            description = Description.from_dict(description)
        self.core.set_remote_description(description, self._now())
        self._open_new_turn_streams()
        self._driver.drain()
        self._resolve_mdns_candidates()

    async def add_ice_candidate(
        self, candidate: IceCandidateInit | dict[str, Any] | str | None = None
    ) -> None:
        """Trickle (RFC 8838): a candidate, or None/"" for end-of-candidates."""
        if isinstance(candidate, dict):
            candidate = IceCandidateInit.from_dict(candidate)
        if isinstance(candidate, str) or candidate is None:
            candidate = IceCandidateInit(candidate or "")
        self.core.add_ice_candidate(
            candidate.candidate or None,
            self._now(),
            sdp_mid=candidate.sdp_mid,
            sdp_mline_index=candidate.sdp_mline_index,
            username_fragment=candidate.username_fragment,
        )
        self._driver.drain()
        self._resolve_mdns_candidates()

    def _resolve_mdns_candidates(self) -> None:
        """Resolve the peer's ``.local`` candidates the core handed over (one one-shot
        mDNS query each, at most ``MAX_MDNS_QUERIES`` at once; more are dropped and
        counted in ``core.counters["mdns_dropped_busy"]``). Not with the relay
        transport policy (draft-ietf-mmusic-mdns-ice-candidates §3.2: ignore them)."""
        counters = self.core.counters
        relay_only = self.core.configuration.ice_transport_policy == "relay"
        for candidate, ufrag in self.core.take_mdns_candidates():
            if not self.settings.resolve_mdns or relay_only:
                counters["mdns_ignored"] = counters.get("mdns_ignored", 0) + 1
            elif len(self._mdns_tasks) >= MAX_MDNS_QUERIES:
                counters["mdns_dropped_busy"] = counters.get("mdns_dropped_busy", 0) + 1
            else:
                task = asyncio.ensure_future(self._add_mdns_candidate(candidate, ufrag))
                self._mdns_tasks[task] = None
                task.add_done_callback(functools.partial(forget_task, self._mdns_tasks))

    async def _add_mdns_candidate(self, candidate: Candidate, ufrag: str | None) -> None:
        address = await resolve_mdns(candidate.address)
        if self.core.closed:
            return
        self.core.add_resolved_candidate(candidate, address, self._now(), ufrag)
        self._driver.drain()

    def restart_ice(self) -> None:
        """W3C restartIce: every offer restarts ICE until an answer with our new
        credentials is applied; negotiationneeded fires (in stable)."""
        self.core.restart_ice()
        self._driver.rearm()

    # ------------------------------------------------------------------ channels, media
    def create_data_channel(
        self,
        label: str = "",
        *,
        ordered: bool = True,
        max_packet_life_time: int | None = None,
        max_retransmits: int | None = None,
        protocol: str = "",
        negotiated: bool = False,
        id: int | None = None,
        priority: Priority | int = "low",
    ) -> DataChannel:
        """W3C createDataChannel: the keywords are ``RTCDataChannelInit``'s, checked as one
        :class:`~pyrtcstack.datachannel.ChannelOptions` (``TypeError``); the parameters
        are those of ``DataChannelManager.create_data_channel``."""
        return self.create_channel(
            label,
            ChannelOptions(
                ordered=ordered,
                max_packet_life_time=max_packet_life_time,
                max_retransmits=max_retransmits,
                protocol=protocol,
                negotiated=negotiated,
                id=id,
                priority=priority,
            ),
        )

    def create_channel(self, label: str, options: ChannelOptions) -> DataChannel:
        """:meth:`create_data_channel` with its options as one value."""
        wrapper = self._wrap(self.core.create_channel(label, options))
        self._driver.rearm()
        return wrapper

    def add_track(self, track: Track) -> Transceiver:
        tr = self.core.add_track(track)
        self._driver.rearm()
        return tr

    def add_transceiver(
        self,
        kind: str,
        *,
        direction: str = "sendrecv",
        track: Track | None = None,
        codecs: list[CodecCapability] | None = None,
    ) -> Transceiver:
        tr = self.core.add_transceiver(kind, direction=direction, track=track, codecs=codecs)
        self._driver.rearm()
        return tr

    def get_transceivers(self) -> list[Transceiver]:
        return list(self.core.transceivers)

    async def get_stats(self) -> dict[str, dict[str, Any]]:
        """webrtc-stats dictionaries by id (see :mod:`pyrtcstack.peerconnection.stats`)."""
        return collect_stats(self.core, self._now(), list(self._channels.values()))

    async def close(self) -> None:
        """W3C close(): ends every transport, releases every socket and the timer."""
        if self.core.closed and not self._sockets:
            return
        self.core.close(self._now())
        self._driver.drain()
        self._driver.cancel()
        for task in self._stream_tasks:
            task.cancel()
        for mdns_task in self._mdns_tasks:
            mdns_task.cancel()
        if self.mdns_publisher is not None:
            self.mdns_publisher.close()
        for sock in self._sockets.values():
            self._closed_socket_errors += sock.socket_errors
            self._closed_send_drops += sock.send_drops
            sock.close()
        self._sockets.clear()
        if self._keylog_file is not None:
            self._keylog_file.close()
            self._keylog_file = None
        self._state_changed.set()
        await asyncio.sleep(0)

    # ------------------------------------------------------------------ helpers (non-W3C)
    async def wait_gathering_complete(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            await self._gathering_complete.wait()

    async def wait_connection_state(self, *states: str, timeout: float = 20.0) -> str:
        """Wait until ``connection_state`` is one of ``states`` (raise on closed/failed
        unless asked for)."""
        async with asyncio.timeout(timeout):
            while True:
                state = self.connection_state
                if state in states:
                    return state
                if state in ("failed", "closed"):
                    raise ConnectionError(f"connection {state}")
                self._state_changed.clear()
                await self._state_changed.wait()

    async def wait_dtls_state(self, *states: str, timeout: float = 20.0) -> str:
        async with asyncio.timeout(timeout):
            while self.core.dtls_state not in states:
                self._state_changed.clear()
                await self._state_changed.wait()
            return self.core.dtls_state

    # ------------------------------------------------------------------ driving
    def _now(self) -> float:
        return self._loop.time()

    async def _prepare(self) -> None:
        """Resolve ICE server URLs once (before the ICE agent exists)."""
        if self.core.closed:
            raise InvalidStateError("the peer connection is closed")
        if self._servers_resolved:
            return
        self._servers_resolved = True
        stun: list[Address] = []
        turn: list[TurnServer] = []
        for server in self.core.configuration.ice_servers:
            for text, url in zip(server.url_list, server.parsed(), strict=True):
                if url.scheme == "stuns":
                    continue  # STUN over TLS gives nothing ICE can use (see docs)
                ip = await self._resolve(url.host, url.port)
                if ip is None:
                    continue
                self._server_urls[((ip, url.port), url.transport)] = text
                if url.scheme == "stun":
                    stun.append((ip, url.port))
                else:
                    # RFC 8656 §3.1: UDP, TCP or TLS to the server; the agent ranks the
                    # relayed candidates by it (RFC 8445 §5.1.2.1)
                    assert server.username is not None and server.credential is not None
                    turn.append(
                        TurnServer(
                            (ip, url.port), server.username, server.credential, url.transport
                        )
                    )
                    self._turn_names[((ip, url.port), url.transport)] = url.host
        # the core gives them to the agent at the next gathering phase
        self.core.ice.stun_servers = stun
        self.core.ice.turn_servers = turn

    async def _resolve(self, host: str, port: int) -> str | None:
        try:
            return ipaddress.ip_address(host).compressed
        except ValueError:
            pass
        try:
            infos = await self._loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError:
            return None
        return str(infos[0][4][0]) if infos else None

    async def _start_gathering(self) -> None:
        settings = self.settings
        if settings.host_addresses is not None:
            ips = list(settings.host_addresses)
        else:
            ips = host_addresses(allow_loopback=settings.allow_loopback, ipv6=settings.ipv6)
        if not ips:
            raise OSError("no usable host address (Settings.host_addresses or allow_loopback)")
        bound: list[Address] = []
        for ip in ips:
            sock = UdpSocket(
                self._loop,
                bind_udp(ip, _request_buffers),
                self._driver.receive_batch,
                max_batch=MAX_BATCH,
                offload=settings.udp_offload,
            )
            self._sockets[sock.local] = sock
            bound.append(sock.local)
        self.core.gather(bound, self._now())
        self._open_new_turn_streams()
        if self.core.mdns_names:
            # the names our host candidates carry: answer for them before anyone asks
            self.mdns_publisher = MdnsPublisher()
            for ip, name in self.core.mdns_names.items():
                self.mdns_publisher.publish(name, ip)
        self._driver.drain()

    def _open_new_turn_streams(self) -> None:
        """Open the TCP/TLS connections the agent asks for (at gathering, and at an ICE
        restart that brought new TURN servers)."""
        agent = self.core.agent
        if agent is None or not self._sockets:
            return
        for stream in agent.stream_transports:
            if stream.key not in self._sockets:
                self._open_turn_stream(stream.key, stream.server, stream.tls)

    def _open_turn_stream(self, key: Address, server: Address, tls: bool) -> None:
        """A TCP or TLS connection to a TURN server (RFC 8656 §3.1) for the agent's
        pseudo socket ``key``: what the agent sends on it is buffered until connected."""
        stream = TurnStream(key, server, tls, self._driver.receive_batch)
        self._sockets[key] = stream
        name = self._turn_names.get((server, "tls" if tls else "tcp"))
        task = asyncio.ensure_future(stream.open(self._turn_ssl_context() if tls else None, name))
        self._stream_tasks[task] = None
        task.add_done_callback(functools.partial(forget_task, self._stream_tasks))

    def _turn_ssl_context(self) -> ssl.SSLContext:
        """How ``turns:`` servers are verified: ``Settings.turn_tls_ca_file`` (None: the
        system's CAs), or not at all with ``Settings.turn_tls_verify=False``."""
        context = ssl.create_default_context(cafile=self.settings.turn_tls_ca_file)
        if not self.settings.turn_tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def sent_by_application(self, size: int) -> None:
        """A data channel queued ``size`` bytes: they leave when the timer the core's
        pending output armed fires, at the next loop iteration, with everything else
        queued in this one (the first send of an iteration re-arms; the others find the
        wake-up armed). Once :data:`EAGER_FLUSH_BYTES` are waiting they leave at once,
        without delivering any event: an application that queues a lot in one go keeps
        the peer busy meanwhile (with the peer in another process, transfer and queueing
        overlap)."""
        driver = self._driver
        if not driver.wake_pending():
            self._unflushed = 0
            driver.rearm()
        self._unflushed += size
        if self._unflushed >= EAGER_FLUSH_BYTES and not self.core.closed:
            self._unflushed = 0
            self.core.handle_timer(self._now())
            driver.transmit()
            driver.rearm()

    @property
    def datagram_hook(self) -> Callable[[str, bytes, Address, Address], None] | None:
        """Called with ``(direction, data, local, remote)`` for every datagram (pcap)."""
        return self._driver.hook

    @datagram_hook.setter
    def datagram_hook(self, hook: Callable[[str, bytes, Address, Address], None] | None) -> None:
        self._driver.hook = hook

    @property
    def datagrams_sent(self) -> int:
        return self._driver.datagrams_sent

    @property
    def datagrams_received(self) -> int:
        return self._driver.datagrams_received

    @property
    def socket_errors(self) -> int:
        """ICMP and other socket errors seen on this connection's sockets."""
        return self._closed_socket_errors + sum(s.socket_errors for s in self._sockets.values())

    @property
    def send_drops(self) -> int:
        """Datagrams the kernel refused because a socket buffer was full."""
        return self._closed_send_drops + sum(s.send_drops for s in self._sockets.values())

    def _wrap(self, channel: CoreChannel) -> DataChannel:
        key = id(channel)
        wrapper = self._channels.get(key)
        if wrapper is None:
            wrapper = self._channels[key] = DataChannel(self, channel)
        return wrapper

    def _dispatch(self, event: Event) -> None:
        kind = type(event)
        if kind is ChannelMessage:
            assert isinstance(event, ChannelMessage)
            ch = self._wrap(event.channel)
            ch.messages_received += 1
            data = event.data
            ch.bytes_received += len(data.encode() if isinstance(data, str) else data)
            ch.emit("message", data)
        elif kind is ChannelOpen:
            assert isinstance(event, ChannelOpen)
            self._wrap(event.channel).mark_open()
        elif kind is DataChannelOpened:
            assert isinstance(event, DataChannelOpened)
            self.emit("datachannel", self._wrap(event.channel))
        elif kind is ChannelBufferedAmountLow:
            assert isinstance(event, ChannelBufferedAmountLow)
            self._wrap(event.channel).emit("bufferedamountlow")
        elif kind is ChannelClosing:
            assert isinstance(event, ChannelClosing)
            self._wrap(event.channel).emit("closing")
        elif kind is ChannelClosed:
            assert isinstance(event, ChannelClosed)
            self._wrap(event.channel).mark_closed()
        elif kind is ChannelError:
            assert isinstance(event, ChannelError)
            self._wrap(event.channel).emit("error", event.error)
        elif kind is TrackFrame:
            assert isinstance(event, TrackFrame)
            track = self._tracks.get(id(event.transceiver))
            if track is not None:
                track.push_frame(event.frame)
        elif kind is IceCandidateEvent:
            assert isinstance(event, IceCandidateEvent)
            if event.candidate is None:
                self._gathering_complete.set()
                self.emit("icecandidate", None)
            else:
                self.emit(
                    "icecandidate",
                    IceCandidateInit(
                        event.candidate,
                        event.sdp_mid,
                        event.sdp_mline_index,
                        event.username_fragment,
                    ),
                )
        elif kind is TrackEvent:
            assert isinstance(event, TrackEvent)
            track = self._tracks[id(event.transceiver)] = RemoteTrack(event.transceiver)
            self.emit("track", track)
        elif kind is IceCandidateError:
            assert isinstance(event, IceCandidateError)
            url = self._server_urls.get((event.server, event.transport))
            self.emit("icecandidateerror", dataclasses.replace(event, url=url))
        elif kind is NegotiationNeeded:
            self.emit("negotiationneeded")
        elif kind is SignalingStateChange:
            self.emit("signalingstatechange", self.signaling_state)
        elif kind is IceGatheringStateChange:
            assert isinstance(event, IceGatheringStateChange)
            if event.state == "gathering":
                self._gathering_complete.clear()
            self.emit("icegatheringstatechange", event.state)
        elif kind is IceConnectionStateChange:
            assert isinstance(event, IceConnectionStateChange)
            self._state_changed.set()
            self.emit("iceconnectionstatechange", event.state)
        elif kind is ConnectionStateChange:
            assert isinstance(event, ConnectionStateChange)
            self._state_changed.set()
            self.emit("connectionstatechange", event.state)
        elif kind is DtlsStateChange:
            assert isinstance(event, DtlsStateChange)
            self._state_changed.set()
            self.emit("dtlsstatechange", event.state)
