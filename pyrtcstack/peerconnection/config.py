"""Configuration of a peer connection: the W3C ``RTCConfiguration`` in snake case, and the
non-standard :class:`Settings` (host addresses, loopback, MTU, timers, key log).

There is **no default STUN server**: with an empty ``ice_servers`` list nothing leaves the
machine but ICE checks to the peer's candidates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..common.errors import LocalProtocolError
from ..dtls import DtlsCertificate
from ..turn import parse_turn_url

__all__ = [
    "BUNDLE_POLICIES",
    "ICE_TRANSPORT_POLICIES",
    "Configuration",
    "ConfigurationError",
    "IceServer",
    "InvalidModificationError",
    "ServerUrl",
    "Settings",
    "parse_server_url",
]

#: W3C RTCIceTransportPolicy values.
ICE_TRANSPORT_POLICIES = ("all", "relay")
#: W3C RTCBundlePolicy values; we always bundle (max-bundle), see docs/peerconnection.md.
BUNDLE_POLICIES = ("balanced", "max-compat", "max-bundle")


class ConfigurationError(LocalProtocolError, ValueError):
    """An invalid configuration (W3C: SyntaxError / InvalidAccessError / TypeError)."""


class InvalidModificationError(LocalProtocolError):
    """W3C InvalidModificationError: setConfiguration tried to change what cannot change
    after construction (certificates, bundle policy, rtcp-mux policy, candidate pool
    size once a local description was set)."""


@dataclass(frozen=True, slots=True)
class ServerUrl:
    """One parsed ``stun:`` / ``turn:`` / ``turns:`` URL (RFC 7064, RFC 7065)."""

    scheme: str  # "stun", "turn", "turns"
    host: str
    port: int
    transport: str  # "udp", "tcp", "tls"


def parse_server_url(url: str) -> ServerUrl:
    """Parse an ICE server URL; raises :class:`ConfigurationError`."""
    scheme = url.partition(":")[0].lower()
    if scheme in ("turn", "turns"):
        try:
            parsed = parse_turn_url(url)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        return ServerUrl(scheme, parsed.host, parsed.port, parsed.transport)
    if scheme in ("stun", "stuns"):
        rest = url.split(":", 1)[1].partition("?")[0]
        if rest.startswith("["):
            host, _, tail = rest[1:].partition("]")
            port_text = tail[1:]
        else:
            host, _, port_text = rest.partition(":")
        if not host:
            raise ConfigurationError(f"no host in {url!r}")
        if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
            raise ConfigurationError(f"bad port in {url!r}")
        port = int(port_text) if port_text else (5349 if scheme == "stuns" else 3478)
        return ServerUrl(scheme, host, port, "tls" if scheme == "stuns" else "udp")
    raise ConfigurationError(f"unsupported ICE server URL {url!r}")


@dataclass(slots=True)
class IceServer:
    """W3C ``RTCIceServer``: ``urls`` plus ``username``/``credential`` for TURN. The
    credential is left out of ``repr`` (and so of :class:`Configuration`'s), as the ICE
    layer's ``TurnServer`` leaves out its password: reprs end up in logs."""

    urls: list[str] | str
    username: str | None = None
    credential: str | None = field(default=None, repr=False)

    @property
    def url_list(self) -> list[str]:
        return [self.urls] if isinstance(self.urls, str) else list(self.urls)

    def parsed(self) -> list[ServerUrl]:
        out = [parse_server_url(u) for u in self.url_list]
        for u in out:
            if u.scheme.startswith("turn") and (self.username is None or self.credential is None):
                # W3C setConfiguration step: TURN needs username and credential.
                raise ConfigurationError("a turn: URL needs username and credential")
        return out


@dataclass(slots=True)
class Configuration:
    """W3C ``RTCConfiguration`` (webrtc-pc §4.2.1) in snake case."""

    ice_servers: list[IceServer] = field(default_factory=list)
    ice_transport_policy: str = "all"
    bundle_policy: str = "max-bundle"
    rtcp_mux_policy: str = "require"
    certificates: list[DtlsCertificate] = field(default_factory=list)
    ice_candidate_pool_size: int = 0

    def validate(self) -> None:
        if self.ice_transport_policy not in ICE_TRANSPORT_POLICIES:
            raise ConfigurationError(f"ice_transport_policy {self.ice_transport_policy!r}")
        if self.bundle_policy not in BUNDLE_POLICIES:
            raise ConfigurationError(f"bundle_policy {self.bundle_policy!r}")
        if self.rtcp_mux_policy != "require":
            raise ConfigurationError("only rtcp_mux_policy 'require' is supported")
        if len(self.certificates) > 1:
            raise ConfigurationError("at most one certificate is supported")
        for server in self.ice_servers:
            server.parsed()

    def check_update(self, new: Configuration, *, described: bool) -> None:
        """Whether ``new`` may replace this configuration (webrtc-pc §4.4.1.6 "set a
        configuration"): certificates, bundle policy, rtcp-mux policy and, once a local
        description was set (``described``), the candidate pool size cannot change
        (:class:`InvalidModificationError`); invalid URLs or TURN without credentials
        raise :class:`ConfigurationError`. ``new`` keeps our certificates."""
        new.validate()
        if new.certificates and new.certificates != self.certificates:
            raise InvalidModificationError("certificates cannot change")
        if new.bundle_policy != self.bundle_policy:
            raise InvalidModificationError("bundle_policy cannot change")
        if new.rtcp_mux_policy != self.rtcp_mux_policy:
            raise InvalidModificationError("rtcp_mux_policy cannot change")
        if new.ice_candidate_pool_size != self.ice_candidate_pool_size and described:
            raise InvalidModificationError(
                "ice_candidate_pool_size cannot change after setLocalDescription"
            )
        new.certificates = list(self.certificates)

    def to_dict(self) -> dict[str, object]:
        """The JSON shape of ``getConfiguration()`` (camelCase, as a browser returns it)."""
        return {
            "iceServers": [
                {
                    "urls": s.url_list,
                    **({"username": s.username} if s.username is not None else {}),
                    **({"credential": s.credential} if s.credential is not None else {}),
                }
                for s in self.ice_servers
            ],
            "iceTransportPolicy": self.ice_transport_policy,
            "bundlePolicy": self.bundle_policy,
            "rtcpMuxPolicy": self.rtcp_mux_policy,
            "iceCandidatePoolSize": self.ice_candidate_pool_size,
        }


@dataclass(slots=True)
class Settings:
    """Non-standard knobs (not part of ``RTCConfiguration``).

    * ``host_addresses``: the IP addresses to gather host candidates on (None: every
      interface address, without loopback unless ``allow_loopback``);
    * ``mtu``: the largest DTLS datagram we send;
    * timers: ICE pacing (``ice_ta``), nomination delay, DTLS initial retransmission
      timeout, SCTP initial/min RTO;
    * ``sctp_max_burst``: SCTP Max.Burst (RFC 9260 §6.1 D; §16 recommends 4, our
      default): packets of new data sent beyond the flight per transmission opportunity
      (each SACK, also when a burst of SACKs is read at once); see docs/sctp.md for the
      path benchmark behind the value;
    * ``sctp_zero_checksum``: announce RFC 9653 Zero Checksum Acceptable in our INIT
      (``SctpConfig.zero_checksum``). On by default; a peer that rejects the INIT because
      of it (Pion up to sctp 1.8.x answers nothing) gets the INIT again without it after
      the first retransmission (docs/sctp.md); False never announces it;
    * ``sctp_sack_at_batch_end``: send the SACK still owed at the end of each read batch
      at once instead of after the 200 ms delayed-SACK timer
      (``SctpConfig.sack_at_batch_end``). On by default: much faster with a peer that
      sends only once all it sent is acknowledged (Janus) and with GStreamer, and a few
      per cent faster between two of ours, at the cost of up to one more SACK per batch,
      which a CPU-bound sender (aiortc) pays for (docs/sctp.md); False: the delayed SACK;
    * ``sctp_sack_coalesce``: answer each read batch with one SACK, built when the answer
      leaves, instead of one per two DATA packets (``SctpConfig.sack_coalesce``, as
      pion/sctp's receiver does). Off by default: fewer SACKs for a sender that pays for
      each (Pion), but it starves a sender that grows its window per SACK (aiortc);
      figures in docs/interop.md, "Throughput";
    * ``udp_offload``: let the asyncio driver batch system calls with Linux UDP GSO/GRO
      (``pyrtcstack.aio.udp``; the datagrams on the wire are the same; off: one
      ``sendto``/``recvfrom`` per datagram);
    * ``turn_tls_ca_file`` / ``turn_tls_verify``: how ``turns:`` servers are verified (a
      PEM file of CA certificates, None for the system's; ``turn_tls_verify=False`` skips
      verification: for tests with a self-signed server only);
    * ``resolve_mdns``: resolve the peer's ``<uuid>.local`` candidates (browsers hide host
      addresses so) with a one-shot multicast query on the local link (RFC 6762 §5.1);
      False: such candidates are ignored (counted);
    * ``mdns_host_candidates``: hide our host addresses behind random ``<uuid>.local``
      names in the candidates we signal, answering mDNS queries for them on the local
      link (as browsers do; off by default);
    * ``keylog``: a callable given NSS key log lines (the asyncio layer also takes
      ``keylog_file``), so Wireshark/tshark can decrypt DTLS;
    * ``dtls_versions``: the DTLS versions we speak (default ``("1.3", "1.2")``: DTLS 1.3,
      RFC 9147, with peers that offer it, 1.2 with the others; ``("1.2",)`` forces 1.2,
      ``("1.3",)`` refuses 1.2 peers);
    * ``tracer``: called with one :class:`~pyrtcstack.peerconnection.trace.TraceRecord`
      per protocol step (``pyrtcstack demo --trace``).
    """

    host_addresses: list[str] | None = None
    allow_loopback: bool = False
    ipv6: bool = False
    mtu: int = 1200
    ice_ta: float = 0.05
    ice_nomination_delay: float = 1.0
    dtls_initial_timeout: float = 1.0
    sctp_rto_initial: float = 1.0
    sctp_rto_min: float = 0.4
    sctp_max_message_size: int = 262144
    sctp_max_burst: int = 4
    sctp_zero_checksum: bool = True
    sctp_sack_at_batch_end: bool = True
    sctp_sack_coalesce: bool = False
    keylog: Callable[[str], None] | None = None
    keylog_file: str | None = None
    tracer: Callable[[object], None] | None = None
    rtcp_interval: float = 1.0
    turn_tls_ca_file: str | None = None
    turn_tls_verify: bool = True
    resolve_mdns: bool = True
    mdns_host_candidates: bool = False
    udp_offload: bool = True
    #: DTLS versions we negotiate (see DtlsVersion.parse). Default: DTLS 1.3 (RFC 9147)
    #: and 1.2, as Chromium and Firefox offer them; a 1.2-only peer gets 1.2 (RFC 8446
    #: §4.1.3 downgrade protection). ``("1.2",)`` forces 1.2 (docs/peerconnection.md).
    dtls_versions: tuple[str, ...] = ("1.3", "1.2")
