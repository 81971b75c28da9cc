"""atheris harness: the DTLS 1.3 record layer (unified header, record-number encryption,
ACK), the 1.3 message and extension decoders, whole connections that speak 1.3, and
(structure-aware) handshake messages with fuzzed bodies fed to mid-handshake connections.

Run: ``.venv/bin/python fuzz/fuzz_dtls13.py -atheris_runs=200000``. Importable without
atheris (tests call :func:`TestOneInput` over a few seeds). Only DtlsDecodeError may escape a
decoder; whatever decodes must re-encode to something that decodes to the same value; a
running connection must never raise, whatever the datagram.
"""

from __future__ import annotations

import contextlib
import random
import sys

from pyrtcstack.common.buffer import BufferReadError, Reader
from pyrtcstack.dtls import DtlsConnection, DtlsRole, DtlsVersion, NamedGroup
from pyrtcstack.dtls.certificate import DtlsCertificate
from pyrtcstack.dtls.engine13 import Dtls13Engine
from pyrtcstack.dtls.errors import DtlsDecodeError
from pyrtcstack.dtls.fragments import Fragment
from pyrtcstack.dtls.keyschedule import TLS13_SUITES, TrafficKeys
from pyrtcstack.dtls.messages13 import (
    Certificate13,
    CertificateRequest13,
    EncryptedExtensions,
    KeyUpdate,
    decode_client_key_shares,
    decode_cookie,
    decode_hrr_key_share,
    decode_server_key_share,
    decode_supported_versions_client,
    encode_client_key_shares,
    encode_cookie,
    encode_supported_versions_client,
)
from pyrtcstack.dtls.record import encode_record
from pyrtcstack.dtls.record13 import (
    CiphertextRecord,
    PlaintextRecord,
    decode_ack,
    encode_ack,
    open_record,
    parse_datagram13,
    reconstruct_sequence,
    seal_record,
    unmask_sequence,
)

PEER = ("192.0.2.1", 5000)
BOTH = (DtlsVersion.DTLS_1_3, DtlsVersion.DTLS_1_2)
_KEYS = {
    code: TrafficKeys.derive(suite, bytes(range(suite.hash_length)))
    for code, suite in TLS13_SUITES.items()
}
_CERT = DtlsCertificate.generate(random.Random(1))


def _connections() -> list[DtlsConnection]:
    """A fresh 1.3-capable server, and an established 1.3 server (built once)."""
    fresh = DtlsConnection(
        DtlsRole.SERVER, certificate=_CERT, verify_fingerprint=False, versions=BOTH,
        rng=random.Random(2),
    )  # fmt: skip
    fresh.start(0.0)
    return [fresh, _ESTABLISHED]


def _established() -> DtlsConnection:
    client = DtlsConnection(
        DtlsRole.CLIENT, certificate=_CERT, verify_fingerprint=False, versions=BOTH,
        remote_address=PEER, rng=random.Random(3),
    )  # fmt: skip
    server = DtlsConnection(
        DtlsRole.SERVER, certificate=_CERT, verify_fingerprint=False, versions=BOTH,
        rng=random.Random(4),
    )  # fmt: skip
    server.start(0.0)
    client.start(0.0)
    for _ in range(6):
        for d, _a in client.datagrams_to_send(0.0):
            server.receive_datagram(d, PEER, 0.0)
        for d, _a in server.datagrams_to_send(0.0):
            client.receive_datagram(d, ("192.0.2.2", 6000), 0.0)
    assert server.is_established and client.is_established
    return server


_ESTABLISHED = _established()

#: Handshake types the structure-aware mode injects (RFC 8446 §4: EncryptedExtensions,
#: CertificateRequest, Certificate, CertificateVerify, Finished, KeyUpdate, NewSessionTicket,
#: and ClientHello/ServerHello out of place).
_TYPES = (8, 13, 11, 15, 20, 24, 4, 1, 2)


def _mid_handshake(server_side: bool) -> DtlsConnection:
    """A 1.3 connection waiting for its peer's next handshake message: the server after its
    flight (expects Certificate), or the client after the ServerHello (expects
    EncryptedExtensions). Seeded and x25519-only, so every call builds the same state."""
    x25519 = (int(NamedGroup.X25519),)
    client = DtlsConnection(
        DtlsRole.CLIENT, certificate=_CERT, verify_fingerprint=False, versions=BOTH,
        remote_address=PEER, rng=random.Random(5), key_shares=x25519,
    )  # fmt: skip
    server = DtlsConnection(
        DtlsRole.SERVER, certificate=_CERT, verify_fingerprint=False, versions=BOTH,
        rng=random.Random(6),
    )  # fmt: skip
    server.start(0.0)
    client.start(0.0)
    for d, _a in client.datagrams_to_send(0.0):
        server.receive_datagram(d, PEER, 0.0)
    if server_side:
        return server
    for d, _a in server.datagrams_to_send(0.0):
        for r in parse_datagram13(d)[0]:
            if isinstance(r, PlaintextRecord):  # the ServerHello only
                plain = encode_record(r.content_type, r.version, 0, r.sequence_number, r.fragment)
                client.receive_datagram(plain, ("192.0.2.2", 6000), 0.0)
    return client


def _handlers(data: bytes) -> None:
    """Structure-aware: handshake messages with fuzzed bodies go straight into a mid-handshake
    1.3 connection's reassembler (past the record protection a raw datagram cannot get
    through); only typed DTLS failures may come out."""
    if len(data) < 2:
        return
    conn = _mid_handshake(server_side=bool(data[0] & 1))
    engine = conn.engine
    assert isinstance(engine, Dtls13Engine)
    r = Reader(data[1:])
    try:
        for _ in range(3):
            msg_type = _TYPES[r.u8() % len(_TYPES)]
            body = r.take(min(r.u16(), r.remaining))
            seq = engine._reassembler.next_seq
            engine._reassembler.add(Fragment(msg_type, len(body), seq, 0, body))
            engine._process_messages(1.0)
            if engine.ended():
                return
    except (BufferReadError, DtlsDecodeError):
        return


def _codecs(data: bytes) -> None:
    with contextlib.suppress(DtlsDecodeError):
        numbers = decode_ack(data)
        assert decode_ack(encode_ack(numbers)) == numbers
    for cls in (EncryptedExtensions, CertificateRequest13, Certificate13, KeyUpdate):
        try:
            message = cls.decode(data)
        except DtlsDecodeError:
            continue
        assert cls.decode(message.encode()) == message
    with contextlib.suppress(DtlsDecodeError):
        versions = decode_supported_versions_client(data)
        assert decode_supported_versions_client(encode_supported_versions_client(versions)) == (
            versions
        )
    with contextlib.suppress(DtlsDecodeError):
        shares = decode_client_key_shares(data)
        assert decode_client_key_shares(encode_client_key_shares(shares)) == shares
    with contextlib.suppress(DtlsDecodeError):
        cookie = decode_cookie(data)
        assert decode_cookie(encode_cookie(cookie)) == cookie
    with contextlib.suppress(DtlsDecodeError):
        decode_server_key_share(data)
    with contextlib.suppress(DtlsDecodeError):
        decode_hrr_key_share(data)


def _records(data: bytes) -> None:
    records, _trailing = parse_datagram13(data)
    for r in records:
        if isinstance(r, PlaintextRecord):
            again, _ = parse_datagram13(
                encode_record(r.content_type, r.version, r.epoch, r.sequence_number, r.fragment)
            )
            assert again == [r]
            continue
        assert isinstance(r, CiphertextRecord)
        keys = _KEYS[0x1301 if r.epoch_bits & 1 else 0x1303]
        try:
            low = unmask_sequence(keys, r)
            seq = reconstruct_sequence(low, 8 * r.seq_length, 5)
            open_record(keys, 2, seq, low, r)
        except DtlsDecodeError:
            pass
    # what we seal, we open
    keys = _KEYS[0x1301]
    sealed = seal_record(keys, 3, len(data), 23, data[:2000])
    (rec,), trailing = parse_datagram13(sealed)
    assert not trailing and isinstance(rec, CiphertextRecord)
    low = unmask_sequence(keys, rec)
    assert low == len(data) & 0xFFFF
    assert open_record(keys, 3, len(data), low, rec) == (23, data[:2000])


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    _codecs(data)
    _records(data)
    _handlers(data)
    for conn in _connections():
        conn.receive_datagram(data, PEER, 1.0)
        conn.datagrams_to_send(1.0)
        while conn.next_event() is not None:
            pass


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
