"""What the hellos offer and how the server chooses (RFC 5246 §7.4.1, RFC 8422 §5.1,
RFC 5764 §4.1, RFC 5746, RFC 7627), and which DTLS version the hellos select (RFC 8446
§4.2.1, §4.1.3; RFC 9147 §5.3).

Pure functions over the decoded hellos, so the choices can be tested without a connection.
The version is chosen here and only here: :func:`select_version` (a server, from the
ClientHello) and :func:`selected_version` (a client, from the ServerHello).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .certificate import VERIFY_SCHEMES
from .constants import (
    DTLS1_2_VERSION,
    DTLS1_3_VERSION,
    EMPTY_RENEGOTIATION_INFO_SCSV,
    AlertDescription,
    CipherSuite,
    DtlsVersion,
    ExtensionType,
    NamedGroup,
)
from .errors import DtlsDecodeError, DtlsHandshakeError
from .keyschedule import TLS13_SUITES, Suite13
from .messages import (
    ClientHello,
    Extensions,
    ServerHello,
    decode_point_formats,
    decode_renegotiation_info,
    decode_u16_list,
    decode_use_srtp,
    encode_u16_list,
    encode_use_srtp,
)
from .messages13 import (
    DOWNGRADE_TLS11,
    DOWNGRADE_TLS12,
    HRR_RANDOM,
    KeyShareEntry,
    decode_client_key_shares,
    decode_supported_versions_client,
)
from .srtp import SrtpProfile
from .suites import SUITES

__all__ = [
    "DEFAULT_CIPHER_SUITES",
    "ServerChoice",
    "build_client_extensions",
    "check_server_hello",
    "choose_server_parameters",
    "select13",
    "select_version",
    "selected_version",
]

#: Our cipher suite preference (RFC 8827 §6.5 makes 0xC02B mandatory): AES-128-GCM, then
#: ChaCha20, then AES-256-GCM; ECDSA suites before RSA ones.
DEFAULT_CIPHER_SUITES: tuple[CipherSuite, ...] = (
    CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite.ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite.ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite.ECDHE_RSA_WITH_AES_256_GCM_SHA384,
)


def build_client_extensions(
    groups: Sequence[NamedGroup], srtp_profiles: Sequence[SrtpProfile]
) -> Extensions:
    """The extensions of our ClientHello."""
    ext: Extensions = [
        (ExtensionType.SUPPORTED_GROUPS, encode_u16_list([int(g) for g in groups])),
        (ExtensionType.EC_POINT_FORMATS, b"\x01\x00"),  # uncompressed only (RFC 8422 §5.1.2)
        (ExtensionType.SIGNATURE_ALGORITHMS, encode_u16_list([int(s) for s in VERIFY_SCHEMES])),
    ]
    if srtp_profiles:
        ext.append((ExtensionType.USE_SRTP, encode_use_srtp([int(p) for p in srtp_profiles])))
    ext.append((ExtensionType.EXTENDED_MASTER_SECRET, b""))
    ext.append((ExtensionType.RENEGOTIATION_INFO, b"\x00"))
    return ext


@dataclass(frozen=True, slots=True)
class ServerChoice:
    suite: CipherSuite
    group: NamedGroup
    srtp_profile: SrtpProfile | None
    signature_schemes: list[int] | None  # client's signature_algorithms, if sent
    extensions: Extensions  # what the ServerHello carries


def choose_server_parameters(
    hello: ClientHello,
    suites: Sequence[CipherSuite],
    groups: Sequence[NamedGroup],
    srtp_profiles: Sequence[SrtpProfile],
    certificate_is_ecdsa: bool,
) -> ServerChoice:
    """Answer a ClientHello as a DTLS 1.2 server, whatever else it offers (DTLS 1.3
    supported_versions and key_share, unknown groups and extensions are ignored: RFC 8446
    §4.2.1 says a 1.2 server ignores supported_versions and negotiates by legacy_version)."""
    # RFC 6347 §4.1: versions are the one's complement, so "1.2 or newer" is 0xFE00..0xFEFD;
    # a DTLS 1.3 client still writes 0xFEFD here (RFC 9147 §5.3).
    if not 0xFE00 <= hello.client_version <= DTLS1_2_VERSION:
        raise DtlsHandshakeError(
            f"client offers DTLS version 0x{hello.client_version:04x}, we need 1.2",
            AlertDescription.PROTOCOL_VERSION,
        )
    if 0 not in hello.compression_methods:
        raise DtlsHandshakeError("client does not offer null compression")

    suite = next(
        (s for s in suites if s in hello.cipher_suites and SUITES[s].ecdsa == certificate_is_ecdsa),
        None,
    )
    if suite is None:
        raise DtlsHandshakeError("no cipher suite in common")

    groups_data = hello.extension(ExtensionType.SUPPORTED_GROUPS)
    offered_groups = decode_u16_list(groups_data) if groups_data is not None else None
    if offered_groups is None:
        group: NamedGroup | None = NamedGroup.SECP256R1  # RFC 8422 §4: absent = no preference
    else:
        group = next((g for g in groups if g in offered_groups), None)
    if group is None:
        raise DtlsHandshakeError("no ECDHE group in common")

    # RFC 7627 §5.3: this implementation requires the extended master secret.
    if hello.extension(ExtensionType.EXTENDED_MASTER_SECRET) is None:
        raise DtlsHandshakeError("client does not offer extended_master_secret")

    ext: Extensions = []
    reneg = hello.extension(ExtensionType.RENEGOTIATION_INFO)
    if reneg is not None:
        if decode_renegotiation_info(reneg):
            raise DtlsHandshakeError("non-empty renegotiation_info in an initial handshake")
        ext.append((ExtensionType.RENEGOTIATION_INFO, b"\x00"))
    elif EMPTY_RENEGOTIATION_INFO_SCSV in hello.cipher_suites:
        ext.append((ExtensionType.RENEGOTIATION_INFO, b"\x00"))  # RFC 5746 §3.6
    ext.append((ExtensionType.EXTENDED_MASTER_SECRET, b""))

    formats = hello.extension(ExtensionType.EC_POINT_FORMATS)
    if formats is not None:
        if 0 not in decode_point_formats(formats):
            raise DtlsHandshakeError("client does not accept uncompressed points")
        ext.append((ExtensionType.EC_POINT_FORMATS, b"\x01\x00"))

    profile: SrtpProfile | None = None
    srtp_data = hello.extension(ExtensionType.USE_SRTP)
    if srtp_data is not None and srtp_profiles:
        offered, _mki = decode_use_srtp(srtp_data)
        # RFC 5764 §4.1.1: the server picks one profile the client offered; we follow our
        # own preference order. No common profile: the extension is simply not echoed.
        profile = next((p for p in srtp_profiles if p in offered), None)
        if profile is not None:
            ext.append((ExtensionType.USE_SRTP, encode_use_srtp([int(profile)])))

    sig_data = hello.extension(ExtensionType.SIGNATURE_ALGORITHMS)
    schemes = decode_u16_list(sig_data) if sig_data is not None else None
    return ServerChoice(suite, group, profile, schemes, ext)


@dataclass(frozen=True, slots=True)
class ClientView:
    suite: CipherSuite
    srtp_profile: SrtpProfile | None


def check_server_hello(
    hello: ServerHello, offered_suites: Sequence[int], offered_srtp: Sequence[SrtpProfile]
) -> ClientView:
    """Validate a ServerHello against what we offered (RFC 5246 §7.4.1.3: a server may only
    echo extensions the client sent; RFC 7627 §5.2: we require extended_master_secret)."""
    if hello.server_version != DTLS1_2_VERSION:
        raise DtlsHandshakeError(
            f"server chose version 0x{hello.server_version:04x}",
            AlertDescription.PROTOCOL_VERSION,
        )
    if hello.cipher_suite not in offered_suites or hello.cipher_suite not in SUITES:
        raise DtlsHandshakeError(
            "server chose a suite we did not offer", AlertDescription.ILLEGAL_PARAMETER
        )
    if hello.compression_method != 0:
        raise DtlsHandshakeError("server chose compression", AlertDescription.ILLEGAL_PARAMETER)
    allowed = {
        ExtensionType.RENEGOTIATION_INFO,
        ExtensionType.EXTENDED_MASTER_SECRET,
        ExtensionType.EC_POINT_FORMATS,
    }
    if offered_srtp:
        allowed.add(ExtensionType.USE_SRTP)
    for ext_type, _ in hello.extensions:
        if ext_type not in allowed:
            raise DtlsHandshakeError(
                f"server sent unsolicited extension {ext_type}",
                AlertDescription.UNSUPPORTED_EXTENSION,
            )
    if hello.extension(ExtensionType.EXTENDED_MASTER_SECRET) is None:
        raise DtlsHandshakeError("server does not support extended_master_secret")
    reneg = hello.extension(ExtensionType.RENEGOTIATION_INFO)
    if reneg is not None and decode_renegotiation_info(reneg):
        raise DtlsHandshakeError("non-empty renegotiation_info in an initial handshake")
    profile: SrtpProfile | None = None
    srtp_data = hello.extension(ExtensionType.USE_SRTP)
    if srtp_data is not None:
        chosen, _mki = decode_use_srtp(srtp_data)
        if len(chosen) != 1 or chosen[0] not in offered_srtp:
            raise DtlsHandshakeError(
                "server chose an SRTP profile we did not offer",
                AlertDescription.ILLEGAL_PARAMETER,
            )
        profile = SrtpProfile(chosen[0])
    return ClientView(CipherSuite(hello.cipher_suite), profile)


def select13(
    hello: ClientHello, suites13: Sequence[int], groups13: Sequence[int]
) -> tuple[Suite13, KeyShareEntry | None, int]:
    """What a DTLS 1.3 server picks from a ClientHello (RFC 8446 §4.1.1): the suite, the
    client's key share it uses (None: a HelloRetryRequest must ask for one) and the group to
    ask for then. Raises :class:`DtlsHandshakeError` when nothing fits."""
    if hello.client_version != DTLS1_2_VERSION:
        raise DtlsHandshakeError(
            "DTLS 1.3 ClientHello must carry legacy_version 0xfefd",
            AlertDescription.PROTOCOL_VERSION,
        )
    suite = next((TLS13_SUITES[s] for s in suites13 if s in hello.cipher_suites), None)
    if suite is None:
        raise DtlsHandshakeError("no TLS 1.3 cipher suite in common")
    groups_data = hello.extension(ExtensionType.SUPPORTED_GROUPS)
    offered_groups = decode_u16_list(groups_data) if groups_data is not None else []
    shares_data = hello.extension(ExtensionType.KEY_SHARE)
    shares = decode_client_key_shares(shares_data) if shares_data is not None else []
    for share in shares:
        if share.group not in offered_groups:  # RFC 8446 §4.2.8
            raise DtlsHandshakeError(
                "key share for a group not in supported_groups", AlertDescription.ILLEGAL_PARAMETER
            )
    ours = groups13
    chosen = next((s for g in ours for s in shares if s.group == g), None)
    group = (
        chosen.group if chosen is not None else next((g for g in ours if g in offered_groups), 0)
    )
    if group == 0:
        raise DtlsHandshakeError("no key exchange group in common")
    return suite, chosen, group


def _client_versions(hello: ClientHello) -> list[int] | None:
    """The ClientHello's supported_versions (RFC 8446 §4.2.1), or None when absent or
    malformed (a DTLS 1.2 server ignores the extension altogether, so a malformed one
    counts as absent)."""
    data = hello.extension(ExtensionType.SUPPORTED_VERSIONS)
    if data is None:
        return None
    try:
        return decode_supported_versions_client(data)
    except DtlsDecodeError:
        return None


def select_version(hello: ClientHello, allowed: Sequence[DtlsVersion]) -> DtlsVersion:
    """The version a server answers ``hello`` with: DTLS 1.3 when supported_versions lists
    0xFEFC and we allow it (RFC 9147 §5.3), else DTLS 1.2 (RFC 8446 §4.2.1: negotiated by
    legacy_version). Raises ``protocol_version`` when we have none in common."""
    offered = _client_versions(hello)
    if offered is not None and DTLS1_3_VERSION in offered and DtlsVersion.DTLS_1_3 in allowed:
        return DtlsVersion.DTLS_1_3
    if (offered is not None and DTLS1_2_VERSION not in offered) or (
        DtlsVersion.DTLS_1_2 not in allowed
    ):
        raise DtlsHandshakeError(
            "no DTLS version in common (we allow " + ", ".join(v.label for v in allowed) + ")",
            AlertDescription.PROTOCOL_VERSION,
        )
    return DtlsVersion.DTLS_1_2


def selected_version(hello: ServerHello, allowed: Sequence[DtlsVersion]) -> DtlsVersion:
    """The version a client's ServerHello (or HelloRetryRequest) selects: DTLS 1.3 when we
    offered it and the server says so by a HelloRetryRequest or supported_versions (RFC 8446
    §4.1.3, §4.2.1; the 1.3 engine checks the value), else DTLS 1.2 unless the random
    carries the downgrade sentinel (RFC 8446 §4.1.3) or we only allow 1.3."""
    if DtlsVersion.DTLS_1_3 not in allowed:
        return DtlsVersion.DTLS_1_2
    if hello.random == HRR_RANDOM or hello.extension(ExtensionType.SUPPORTED_VERSIONS) is not None:
        return DtlsVersion.DTLS_1_3
    if hello.random[24:] in (DOWNGRADE_TLS12, DOWNGRADE_TLS11):
        raise DtlsHandshakeError(
            "server negotiated DTLS 1.2 but its random says it speaks 1.3 (downgrade)",
            AlertDescription.ILLEGAL_PARAMETER,
        )
    if DtlsVersion.DTLS_1_2 not in allowed:
        raise DtlsHandshakeError(
            "server answered with DTLS 1.2; we only allow 1.3",
            AlertDescription.PROTOCOL_VERSION,
        )
    return DtlsVersion.DTLS_1_2
