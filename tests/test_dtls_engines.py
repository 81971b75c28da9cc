"""The connection over its two engines (docs/dtls.md, "How the code is put together"): the
version is chosen once, by :mod:`pyrtcstack.dtls.negotiation` (RFC 8446 §4.1.3, §4.2.1;
RFC 9147 §5.3); the 1.2 engine hands over to the 1.3 engine and is dropped; one record
sealed alone is the record of a burst of one; a batch larger than 2^14 bytes per record is
refused whole in both versions (RFC 5246 §6.2.1, RFC 8446 §5.1); each engine owns one role
object, whose ``@handles`` marks are its role's state machine."""

from __future__ import annotations

import gc
import weakref

import pytest

from pyrtcstack.dtls import DtlsHandshakeError, DtlsUsageError, DtlsVersion, NamedGroup
from pyrtcstack.dtls.client import ClientHandshake
from pyrtcstack.dtls.client13 import ClientHandshake13
from pyrtcstack.dtls.constants import AlertDescription, ExtensionType, HandshakeType
from pyrtcstack.dtls.engine12 import Dtls12Engine
from pyrtcstack.dtls.engine13 import Dtls13Engine
from pyrtcstack.dtls.handlers import ENCRYPTED_EXTENSIONS
from pyrtcstack.dtls.handshake import Handshake12, State
from pyrtcstack.dtls.handshake13 import Handshake13, State13
from pyrtcstack.dtls.messages import ClientHello, ServerHello
from pyrtcstack.dtls.messages13 import (
    DOWNGRADE_TLS11,
    DOWNGRADE_TLS12,
    HRR_RANDOM,
    encode_supported_versions_client,
)
from pyrtcstack.dtls.negotiation import select_version, selected_version
from pyrtcstack.dtls.server import ServerHandshake
from pyrtcstack.dtls.server13 import ServerHandshake13
from tests.test_dtls_helpers import CLIENT_ADDR, make_pair

V12, V13 = DtlsVersion.DTLS_1_2, DtlsVersion.DTLS_1_3
BOTH = (V13, V12)


def _client_hello(versions: list[int] | None = None, raw: bytes | None = None) -> ClientHello:
    ext: list[tuple[int, bytes]] = []
    if versions is not None:
        ext.append((ExtensionType.SUPPORTED_VERSIONS, encode_supported_versions_client(versions)))
    elif raw is not None:
        ext.append((ExtensionType.SUPPORTED_VERSIONS, raw))
    return ClientHello(0xFEFD, bytes(32), cipher_suites=(0xC02B,), extensions=ext)


@pytest.mark.parametrize(
    ("offered", "allowed", "chosen"),
    [
        ([0xFEFC, 0xFEFD], BOTH, V13),
        ([0xFEFC, 0xFEFD], (V12,), V12),  # 1.3 offered but not allowed: 1.2
        ([0xFEFD], BOTH, V12),
        (None, BOTH, V12),  # no supported_versions: legacy_version decides
        (None, (V12,), V12),
        ([0xFEFC], (V13,), V13),
    ],
)
def test_a_server_chooses_the_version_from_the_client_hello(
    offered: list[int] | None, allowed: tuple[DtlsVersion, ...], chosen: DtlsVersion
) -> None:
    assert select_version(_client_hello(offered), allowed) is chosen


@pytest.mark.parametrize(
    ("offered", "allowed"),
    [([0xFEFC], (V12,)), (None, (V13,)), ([0xFEFD], (V13,))],
)
def test_no_version_in_common_is_protocol_version(
    offered: list[int] | None, allowed: tuple[DtlsVersion, ...]
) -> None:
    with pytest.raises(DtlsHandshakeError) as info:
        select_version(_client_hello(offered), allowed)
    assert info.value.alert == AlertDescription.PROTOCOL_VERSION


def test_a_malformed_supported_versions_counts_as_absent() -> None:
    """A 1.2 server ignores the extension (RFC 8446 §4.2.1), so a broken one reads as none."""
    assert select_version(_client_hello(raw=b"\x03\xfe\xfc"), BOTH) is V12


def _server_hello(random: bytes = bytes(32), versions: bool = False) -> ServerHello:
    ext = [(ExtensionType.SUPPORTED_VERSIONS, b"\xfe\xfc")] if versions else []
    return ServerHello(0xFEFD, random, b"", 0xC02B, 0, ext)


def test_a_client_follows_the_server_hello() -> None:
    assert selected_version(_server_hello(versions=True), BOTH) is V13
    assert selected_version(_server_hello(HRR_RANDOM), BOTH) is V13  # RFC 8446 §4.1.3
    assert selected_version(_server_hello(), BOTH) is V12
    # we did not offer 1.3: supported_versions in a ServerHello means nothing to a 1.2 client
    assert selected_version(_server_hello(versions=True), (V12,)) is V12


@pytest.mark.parametrize("sentinel", [DOWNGRADE_TLS12, DOWNGRADE_TLS11])
def test_a_client_that_offered_13_refuses_a_downgraded_12_answer(sentinel: bytes) -> None:
    with pytest.raises(DtlsHandshakeError) as info:
        selected_version(_server_hello(bytes(24) + sentinel), BOTH)
    assert info.value.alert == AlertDescription.ILLEGAL_PARAMETER
    # without a 1.3 offer the sentinel is not ours to check
    assert selected_version(_server_hello(bytes(24) + sentinel), (V12,)) is V12


def test_a_13_only_client_refuses_a_12_answer() -> None:
    with pytest.raises(DtlsHandshakeError) as info:
        selected_version(_server_hello(), (V13,))
    assert info.value.alert == AlertDescription.PROTOCOL_VERSION


@pytest.mark.parametrize(
    ("client", "server", "engine"),
    [(BOTH, BOTH, Dtls13Engine), (BOTH, (V12,), Dtls12Engine), ((V12,), BOTH, Dtls12Engine)],
)
def test_the_connection_runs_the_engine_the_hellos_chose(
    client: tuple[DtlsVersion, ...], server: tuple[DtlsVersion, ...], engine: type
) -> None:
    """Both ends start with the 1.2 engine; the 1.3 engine replaces it when chosen, and
    nothing of the 1.2 engine is kept (its successor is the connection's engine)."""
    pair = make_pair(
        seed=31, client_kwargs={"versions": client}, server_kwargs={"versions": server}
    )
    assert pair.run()
    for conn in (pair.client, pair.server):
        assert type(conn.engine) is engine
        assert conn.engine.successor is None
        assert conn.version is (V13 if engine is Dtls13Engine else V12)


@pytest.mark.parametrize("versions", [(V12,), BOTH])
def test_one_record_alone_is_the_record_of_a_burst_of_one(
    versions: tuple[DtlsVersion, ...],
) -> None:
    """``protect`` has its own short path; it makes the same bytes as ``protect_many`` of
    one (two pairs from the same seeds, x25519 only: its keys come from the seeded rng),
    and the peer opens it."""
    x25519 = {"versions": versions, "key_shares": (int(NamedGroup.X25519),)}
    pairs = [make_pair(seed=32, client_kwargs=x25519, server_kwargs=x25519) for _ in range(2)]
    for pair in pairs:
        assert pair.run()
    data = bytes(range(256)) * 4
    for _ in range(3):  # the sequence numbers move on alike
        alone = pairs[0].client.protect(data)
        burst = pairs[1].client.protect_many([data])
        assert burst == [alone]
        pairs[0].server.receive_datagram(alone, CLIENT_ADDR, 1.0)
    assert pairs[0].server.take_application_data() == [data] * 3
    assert pairs[0].client.stats.records_sent == pairs[1].client.stats.records_sent


@pytest.mark.parametrize("versions", [(V12,), BOTH])
def test_a_burst_with_an_oversized_packet_is_refused_whole(
    versions: tuple[DtlsVersion, ...],
) -> None:
    """A record carries at most 2^14 bytes (RFC 5246 §6.2.1, RFC 8446 §5.1): a burst with
    one larger packet raises before any record is sealed (no sequence number used)."""
    pair = make_pair(
        seed=33, client_kwargs={"versions": versions}, server_kwargs={"versions": versions}
    )
    assert pair.run()
    before = pair.client.stats.records_sent
    with pytest.raises(DtlsUsageError):
        pair.client.protect_many([b"a", bytes(2**14 + 1), b"b"])
    with pytest.raises(DtlsUsageError):
        pair.client.protect(bytes(2**14 + 1))
    assert pair.client.stats.records_sent == before
    record = pair.client.protect(b"next")
    pair.server.receive_datagram(record, CLIENT_ADDR, 1.0)
    assert pair.server.stats.dropped_replay == 0 and pair.server.stats.dropped_decrypt == 0


def test_a_13_server_exports_nothing_before_the_clients_finished() -> None:
    """The server has the exporter secret once it sent its flight (RFC 8446 §7.5), but the
    handshake is not done until the client's Finished checked: no keying material yet."""
    pair = make_pair(seed=34, client_kwargs={"versions": BOTH}, server_kwargs={"versions": BOTH})
    pair.net.run(until=lambda: isinstance(pair.server.engine, Dtls13Engine), timeout=5)
    pair.net.run(until=lambda: pair.server.state == "server: expect Certificate", timeout=5)
    with pytest.raises(DtlsUsageError):
        pair.server.export_keying_material("EXTRACTOR-dtls_srtp", 60)
    assert pair.run()
    assert len(pair.server.export_keying_material("EXTRACTOR-dtls_srtp", 60)) == 60


@pytest.mark.parametrize(
    ("versions", "roles"),
    [((V12,), (ClientHandshake, ServerHandshake)), (BOTH, (ClientHandshake13, ServerHandshake13))],
)
def test_each_engine_owns_one_role_object_of_its_role(
    versions: tuple[DtlsVersion, ...], roles: tuple[type, type]
) -> None:
    """Composition, not mixins (issue 16): an engine is no handshake class itself; it owns
    one role object, the client's or the server's, and the role objects do not share one."""
    kwargs: dict[str, object] = {"versions": versions}
    pair = make_pair(seed=32, client_kwargs=kwargs, server_kwargs=kwargs)
    assert pair.run()
    client, server = pair.client.engine, pair.server.engine
    assert not isinstance(client, Handshake12 | Handshake13)
    assert type(client.handshake) is roles[0]  # type: ignore[attr-defined]
    assert type(server.handshake) is roles[1]  # type: ignore[attr-defined]
    assert client.handshake.host.state_name == client.state_name  # type: ignore[attr-defined]


@pytest.mark.parametrize("versions", [(V12,), BOTH])
def test_a_dropped_connection_is_freed_without_the_cyclic_gc(
    versions: tuple[DtlsVersion, ...],
) -> None:
    """The role object refers back to its engine weakly: no reference cycle, so a peer
    connection's DTLS state goes when its last reference does (and handshakes do not feed
    the cyclic GC)."""
    kwargs: dict[str, object] = {"versions": versions}
    pair = make_pair(seed=33, client_kwargs=kwargs, server_kwargs=kwargs)
    assert pair.run()
    engines = [weakref.ref(pair.client.engine), weakref.ref(pair.server.engine)]
    gc.disable()
    try:
        del pair
        assert [r() for r in engines] == [None, None]
    finally:
        gc.enable()


def test_each_role_takes_the_messages_of_its_state_machine() -> None:
    """The ``@handles`` marks make each role's table: (state, handshake type) per RFC 5246
    §7.3 and RFC 8446 §A.1/§A.2, and nothing of the other role's states."""
    hs = HandshakeType
    assert set(ClientHandshake.HANDLERS) == {
        (State.CLIENT_EXPECT_SERVER_HELLO, hs.HELLO_VERIFY_REQUEST),
        (State.CLIENT_EXPECT_SERVER_HELLO, hs.SERVER_HELLO),
        (State.CLIENT_EXPECT_CERTIFICATE, hs.CERTIFICATE),
        (State.CLIENT_EXPECT_SERVER_KEY_EXCHANGE, hs.SERVER_KEY_EXCHANGE),
        (State.CLIENT_EXPECT_SERVER_HELLO_DONE, hs.CERTIFICATE_REQUEST),
        (State.CLIENT_EXPECT_SERVER_HELLO_DONE, hs.SERVER_HELLO_DONE),
        (State.CLIENT_EXPECT_FINISHED, hs.FINISHED),
    }
    assert set(ServerHandshake.HANDLERS) == {
        (State.SERVER_EXPECT_CLIENT_HELLO, hs.CLIENT_HELLO),
        (State.SERVER_EXPECT_CERTIFICATE, hs.CERTIFICATE),
        (State.SERVER_EXPECT_CLIENT_KEY_EXCHANGE, hs.CLIENT_KEY_EXCHANGE),
        (State.SERVER_EXPECT_CERTIFICATE_VERIFY, hs.CERTIFICATE_VERIFY),
        (State.SERVER_EXPECT_FINISHED, hs.FINISHED),
    }
    assert set(ClientHandshake13.HANDLERS) == {
        (State13.CLIENT_WAIT_SERVER_HELLO, hs.SERVER_HELLO),
        (State13.CLIENT_WAIT_ENCRYPTED_EXTENSIONS, ENCRYPTED_EXTENSIONS),
        (State13.CLIENT_WAIT_CERTIFICATE_REQUEST, hs.CERTIFICATE_REQUEST),
        (State13.CLIENT_WAIT_CERTIFICATE_REQUEST, hs.CERTIFICATE),
        (State13.CLIENT_WAIT_CERTIFICATE, hs.CERTIFICATE),
        (State13.CLIENT_WAIT_CERTIFICATE_VERIFY, hs.CERTIFICATE_VERIFY),
        (State13.CLIENT_WAIT_FINISHED, hs.FINISHED),
    }
    assert set(ServerHandshake13.HANDLERS) == {
        (State13.SERVER_WAIT_CLIENT_HELLO, hs.CLIENT_HELLO),
        (State13.SERVER_WAIT_CERTIFICATE, hs.CERTIFICATE),
        (State13.SERVER_WAIT_CERTIFICATE_VERIFY, hs.CERTIFICATE_VERIFY),
        (State13.SERVER_WAIT_FINISHED, hs.FINISHED),
    }
