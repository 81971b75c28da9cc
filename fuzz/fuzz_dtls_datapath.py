"""atheris harness: the established data path, differentially.

A seeded handshake is recorded once (what the server received, and 64 genuine application
data records the client protected afterwards). For each input, two identically seeded
servers replay that handshake; one then receives datagram by datagram (the in-line record
reading of :mod:`pyrtcstack.dtls.datapath`), the other is forced down the general record
path; a third receives the same datagrams in bursts through ``receive_datagrams``. Each
hands its plaintext up the one way, ``take_application_data``.
The input, read as operations, feeds all three the same datagrams: genuine records (in any
order, repeated), genuine records with one byte changed, records packed together, and
hostile bytes behind an application data header. All must deliver the same data and count
the same drops, only genuine payloads may ever be delivered, and each at most once (RFC
6347 §4.1.2.6, RFC 9147 §4.5.1). The input's first byte picks DTLS 1.2 or DTLS 1.3 (RFC
9147: the unified header, record-number masks, the engine's general record path; x25519
shares so that the seeded handshake replays).

Run: ``.venv/bin/python fuzz/fuzz_dtls_datapath.py -atheris_runs=20000``. Importable
without atheris (tests call :func:`TestOneInput` over a few seeds).
"""

from __future__ import annotations

import dataclasses
import datetime
import random
import sys

from pyrtcstack.dtls import (
    DtlsCertificate,
    DtlsConnection,
    DtlsRole,
    DtlsVersion,
    NamedGroup,
)
from pyrtcstack.dtls.engine12 import Dtls12Engine
from pyrtcstack.dtls.engine13 import Dtls13Engine

_NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
_CERTS = [DtlsCertificate.generate(random.Random(i), not_before=_NOT_BEFORE) for i in (1, 2)]
_C, _S = ("192.0.2.1", 5000), ("192.0.2.2", 6000)


_V13 = (DtlsVersion.DTLS_1_3, DtlsVersion.DTLS_1_2)


def _conn(role: DtlsRole, dtls13: bool) -> DtlsConnection:
    index = 0 if role == DtlsRole.CLIENT else 1
    extra: dict[str, object] = {"versions": _V13, "key_shares": (int(NamedGroup.X25519),)}
    conn = DtlsConnection(
        role,
        certificate=_CERTS[index],
        remote_fingerprints=[_CERTS[1 - index].fingerprint()],
        rng=random.Random(index + 20),
        remote_address=_S if role == DtlsRole.CLIENT else _C,
        **(extra if dtls13 else {}),  # type: ignore[arg-type]
    )
    conn.start(0.0)
    return conn


def _record(dtls13: bool) -> tuple[list[bytes], list[bytes]]:
    client, server = _conn(DtlsRole.CLIENT, dtls13), _conn(DtlsRole.SERVER, dtls13)
    inbox: list[bytes] = []
    for _ in range(10):
        for data, _ in client.datagrams_to_send(0.0):
            inbox.append(data)
            server.receive_datagram(data, _C, 0.0)
        for data, _ in server.datagrams_to_send(0.0):
            client.receive_datagram(data, _S, 0.0)
    assert client.is_established and server.is_established
    return inbox, [client.protect(b"genuine %d" % i) for i in range(64)]


_SETS = {False: _record(False), True: _record(True)}
_GENUINE = {b"genuine %d" % i for i in range(64)}


def _server(dtls13: bool) -> DtlsConnection:
    conn = _conn(DtlsRole.SERVER, dtls13)
    for data in _SETS[dtls13][0]:
        conn.receive_datagram(data, _C, 0.0)
        conn.datagrams_to_send(0.0)
    while conn.next_event() is not None:
        pass
    assert conn.is_established
    assert isinstance(conn.engine, Dtls13Engine) == dtls13
    return conn


def _general_only(conn: DtlsConnection) -> None:
    """Test-only: the data path takes no record; every datagram takes the general path
    (with DTLS 1.3 the engine's record layer, also after a KeyUpdate)."""
    engine = conn.engine
    if isinstance(engine, Dtls12Engine):
        engine._fast_read = None
    elif isinstance(engine, Dtls13Engine):
        engine.__class__ = _GeneralOnly13  # the engine has __slots__: no per-instance method
        engine._fast_keys = None


class _GeneralOnly13(Dtls13Engine):
    """A 1.3 engine whose read path never takes a record (see :func:`_general_only`)."""

    __slots__ = ()

    def _update_fast_path(self) -> None:
        super()._update_fast_path()
        self._fast_keys = None


def _datagrams(data: bytes, dtls13: bool) -> list[bytes]:
    records = _SETS[dtls13][1]
    out: list[bytes] = []
    pos = 0
    while pos + 2 <= len(data):
        op, arg = data[pos], data[pos + 1]
        pos += 2
        record = records[arg % 64]
        kind = op & 3
        if kind == 0:
            out.append(record)
        elif kind == 1:  # one byte changed (header, nonce, ciphertext or tag)
            at = (op >> 2) * len(record) // 64
            out.append(record[:at] + bytes([record[at] ^ (arg | 1)]) + record[at + 1 :])
        elif kind == 2:
            out.append(record + records[(arg + op) % 64])
        else:  # hostile bytes behind an application data header of the current epoch
            chunk = data[pos : pos + (op >> 2)]
            pos += len(chunk)
            if dtls13:  # the unified header, 16-bit sequence number and length
                out.append(b"\x2f\x00" + bytes([arg]) + len(chunk).to_bytes(2, "big") + chunk)
            else:
                seq = arg.to_bytes(6, "big")
                out.append(b"\x17\xfe\xfd\x00\x01" + seq + len(chunk).to_bytes(2, "big") + chunk)
    return out


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    dtls13 = bool(data[:1]) and data[0] & 1 == 1
    data = data[1:]
    fast, general, bursts = _server(dtls13), _server(dtls13), _server(dtls13)
    got: list[bytes] = []
    got_bursts: list[bytes] = []
    events: list[bytes] = []
    _general_only(general)
    datagrams = _datagrams(data, dtls13)
    for datagram in datagrams:
        fast.receive_datagram(datagram, _C, 1.0)
        got.extend(fast.take_application_data())
        general.receive_datagram(datagram, _C, 1.0)
        events.extend(general.take_application_data())
    size = 1 + len(data) % 7  # bursts of 1 to 7 datagrams
    for i in range(0, len(datagrams), size):
        bursts.receive_datagrams(datagrams[i : i + size], _C, 1.0)
        got_bursts.extend(bursts.take_application_data())
    assert fast.next_event() is None and bursts.next_event() is None
    assert general.next_event() is None
    assert got == events, (got, events)
    assert got_bursts == events, (got_bursts, events)
    assert set(got) <= _GENUINE and len(set(got)) == len(got)
    assert dataclasses.asdict(fast.stats) == dataclasses.asdict(general.stats)
    assert dataclasses.asdict(bursts.stats) == dataclasses.asdict(general.stats)
    assert fast.state == general.state == bursts.state == "established"


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
