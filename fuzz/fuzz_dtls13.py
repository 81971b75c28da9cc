"""atheris harness: the DTLS 1.3 record layer (unified header, record-number encryption,
ACK), the 1.3 message and extension decoders, and whole connections that speak 1.3.

Run: ``.venv/bin/python fuzz/fuzz_dtls13.py -atheris_runs=200000``. Importable without
atheris (tests call :func:`TestOneInput` over a few seeds). Only DtlsDecodeError may escape a
decoder; whatever decodes must re-encode to something that decodes to the same value; a
running connection must never raise, whatever the datagram.
"""

from __future__ import annotations

import contextlib
import random
import sys

from pyrtcstack.dtls import DtlsConnection, DtlsRole, DtlsVersion
from pyrtcstack.dtls.certificate import DtlsCertificate
from pyrtcstack.dtls.errors import DtlsDecodeError
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
