"""What a server picks from a ClientHello and what a client accepts in a ServerHello
(RFC 5246 §7.4.1, RFC 8422 §5.1, RFC 5764 §4.1, RFC 5746, RFC 7627)."""

from __future__ import annotations

import pytest

from pyrtcstack.dtls import CipherSuite, DtlsHandshakeError, NamedGroup, SrtpProfile
from pyrtcstack.dtls.constants import AlertDescription, ExtensionType
from pyrtcstack.dtls.keyexchange import SUPPORTED_GROUPS
from pyrtcstack.dtls.messages import ClientHello, ServerHello, encode_u16_list, encode_use_srtp
from pyrtcstack.dtls.negotiation import (
    DEFAULT_CIPHER_SUITES,
    build_client_extensions,
    check_server_hello,
    choose_server_parameters,
)
from pyrtcstack.dtls.srtp import DEFAULT_SRTP_PROFILES

ALL_PROFILES = tuple(SrtpProfile)


def hello(
    suites: tuple[int, ...] = (0xC02B,),
    extensions: list[tuple[int, bytes]] | None = None,
    version: int = 0xFEFD,
) -> ClientHello:
    ext = (
        build_client_extensions(SUPPORTED_GROUPS, DEFAULT_SRTP_PROFILES)
        if extensions is None
        else extensions
    )
    return ClientHello(version, bytes(32), cipher_suites=suites, extensions=ext)


def test_defaults() -> None:
    c = choose_server_parameters(
        hello(), DEFAULT_CIPHER_SUITES, SUPPORTED_GROUPS, DEFAULT_SRTP_PROFILES, True
    )
    assert c.suite == CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    assert c.group == NamedGroup.X25519
    assert c.srtp_profile == SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
    assert [t for t, _ in c.extensions] == [
        ExtensionType.RENEGOTIATION_INFO,
        ExtensionType.EXTENDED_MASTER_SECRET,
        ExtensionType.EC_POINT_FORMATS,
        ExtensionType.USE_SRTP,
    ]


def test_rsa_certificate_picks_an_rsa_suite() -> None:
    c = choose_server_parameters(
        hello((0xC02B, 0xC02F)), DEFAULT_CIPHER_SUITES, SUPPORTED_GROUPS, (), False
    )
    assert c.suite == CipherSuite.ECDHE_RSA_WITH_AES_128_GCM_SHA256
    assert c.srtp_profile is None  # we offered no SRTP profiles


def test_only_p256_offered() -> None:
    ext = [(t, d) for t, d in hello().extensions if t != ExtensionType.SUPPORTED_GROUPS]
    ext.append((ExtensionType.SUPPORTED_GROUPS, encode_u16_list([0x11EC, 23])))
    c = choose_server_parameters(
        hello(extensions=ext), DEFAULT_CIPHER_SUITES, SUPPORTED_GROUPS, (), True
    )
    assert c.group == NamedGroup.SECP256R1


@pytest.mark.parametrize(
    ("mutate", "alert"),
    [
        (lambda e: [x for x in e if x[0] != ExtensionType.EXTENDED_MASTER_SECRET], 40),
        (lambda e: [x for x in e if x[0] != ExtensionType.SUPPORTED_GROUPS]
         + [(ExtensionType.SUPPORTED_GROUPS, encode_u16_list([0x11EC, 30]))], 40),
        (lambda e: [x for x in e if x[0] != ExtensionType.RENEGOTIATION_INFO]
         + [(ExtensionType.RENEGOTIATION_INFO, b"\x02ab")], 40),
        (lambda e: [x for x in e if x[0] != ExtensionType.EC_POINT_FORMATS]
         + [(ExtensionType.EC_POINT_FORMATS, b"\x01\x01")], 40),
    ],
)  # fmt: skip
def test_refused_client_hellos(mutate: object, alert: int) -> None:
    ext = mutate(hello().extensions)  # type: ignore[operator]
    with pytest.raises(DtlsHandshakeError) as info:
        choose_server_parameters(
            hello(extensions=ext), DEFAULT_CIPHER_SUITES, SUPPORTED_GROUPS, (), True
        )
    assert info.value.alert == alert


def test_no_common_suite_or_old_version() -> None:
    with pytest.raises(DtlsHandshakeError):
        choose_server_parameters(
            hello((0x002F,)), DEFAULT_CIPHER_SUITES, SUPPORTED_GROUPS, (), True
        )
    with pytest.raises(DtlsHandshakeError) as info:
        choose_server_parameters(
            hello(version=0xFEFF), DEFAULT_CIPHER_SUITES, SUPPORTED_GROUPS, (), True
        )
    assert info.value.alert == AlertDescription.PROTOCOL_VERSION


def test_scsv_gets_renegotiation_info() -> None:
    ext = [x for x in hello().extensions if x[0] != ExtensionType.RENEGOTIATION_INFO]
    c = choose_server_parameters(
        hello((0xC02B, 0x00FF), ext), DEFAULT_CIPHER_SUITES, SUPPORTED_GROUPS, (), True
    )
    assert (ExtensionType.RENEGOTIATION_INFO, b"\x00") in c.extensions


def server_hello(
    ext: list[tuple[int, bytes]], suite: int = 0xC02B, version: int = 0xFEFD
) -> ServerHello:
    return ServerHello(version, bytes(32), b"", suite, 0, ext)


EMS = (ExtensionType.EXTENDED_MASTER_SECRET, b"")


def test_client_accepts_a_good_server_hello() -> None:
    view = check_server_hello(
        server_hello([EMS, (ExtensionType.USE_SRTP, encode_use_srtp([7]))]),
        (0xC02B,),
        ALL_PROFILES,
    )
    assert view.srtp_profile == SrtpProfile.SRTP_AEAD_AES_128_GCM


@pytest.mark.parametrize(
    ("sh", "alert"),
    [
        (server_hello([]), 40),  # no extended master secret
        (server_hello([EMS, (ExtensionType.SESSION_TICKET, b"")]), 110),  # unsolicited
        (server_hello([EMS], suite=0xC02F), 47),  # not offered
        (server_hello([EMS], version=0xFEFF), 70),
        (server_hello([EMS, (ExtensionType.USE_SRTP, encode_use_srtp([5]))]), 47),
        (server_hello([EMS, (ExtensionType.RENEGOTIATION_INFO, b"\x01x")]), 40),
    ],
)
def test_client_refuses_bad_server_hellos(sh: ServerHello, alert: int) -> None:
    with pytest.raises(DtlsHandshakeError) as info:
        check_server_hello(sh, (0xC02B,), ALL_PROFILES)
    assert info.value.alert == alert
