"""atheris harness: running DtlsConnections fed hostile datagrams. Nothing may escape: bad
input is dropped and counted, or ends the handshake with a Failed event.

Two modes, chosen by the first input byte:
* even: the input, split at 0xff bytes, is fed as datagrams (raw and behind a plausible
  handshake record header) to a fresh server and a fresh client;
* odd: structure-aware. A seeded handshake is recorded once; one side is then replayed from
  its fresh, identically seeded state with one of its incoming datagrams overwritten at an
  input-chosen offset by input bytes, so the corruption reaches deep into valid messages.

Run: ``.venv/bin/python fuzz/fuzz_dtls_handshake.py -atheris_runs=50000``. Importable without
atheris (tests call :func:`TestOneInput` over a few seeds).
"""

from __future__ import annotations

import datetime
import random
import sys

from pyrtcstack.dtls import DtlsCertificate, DtlsConnection, DtlsRole

_NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
_CERTS = [DtlsCertificate.generate(random.Random(i), not_before=_NOT_BEFORE) for i in (1, 2)]
_C, _S = ("192.0.2.1", 5000), ("192.0.2.2", 6000)
_HEADER = b"\x16\xfe\xfd\x00\x00\x00\x00\x00\x00\x00\x00"


def _conn(role: DtlsRole, cookie: bool = False) -> DtlsConnection:
    index = 0 if role == DtlsRole.CLIENT else 1
    conn = DtlsConnection(
        role,
        certificate=_CERTS[index],
        remote_fingerprints=[_CERTS[1 - index].fingerprint()],
        rng=random.Random(index + 10),
        remote_address=_S if role == DtlsRole.CLIENT else _C,
        use_cookie=cookie,
    )
    conn.start(0.0)
    return conn


def _record() -> dict[DtlsRole, list[bytes]]:
    """Every datagram each side received in one clean, seeded handshake (+ data + close)."""
    client, server = _conn(DtlsRole.CLIENT, True), _conn(DtlsRole.SERVER, True)
    inbox: dict[DtlsRole, list[bytes]] = {DtlsRole.CLIENT: [], DtlsRole.SERVER: []}
    for step in range(12):
        if step == 8:
            client.send(b"data")
            server.send(b"data")
        if step == 10:
            client.close(0.0)
        for src, dst, role, addr in (
            (client, server, DtlsRole.SERVER, _C),
            (server, client, DtlsRole.CLIENT, _S),
        ):
            for data, _ in src.datagrams_to_send(0.0):
                inbox[role].append(data)
                dst.receive_datagram(data, addr, 0.0)
    assert client.state == "closed" and server.state == "closed"
    return inbox


_INBOX = _record()


def _drain(conn: DtlsConnection, now: float) -> None:
    conn.datagrams_to_send(now)
    while conn.next_event() is not None:
        pass


def _raw(data: bytes) -> None:
    for role in (DtlsRole.SERVER, DtlsRole.CLIENT):
        conn = _conn(role, cookie=data[1:2] == b"\x01")
        _drain(conn, 0.0)
        for i, chunk in enumerate(data[1:].split(b"\xff")):
            conn.receive_datagram(chunk, _C, float(i))
            framed = _HEADER + len(chunk).to_bytes(2, "big") + chunk
            conn.receive_datagram(framed, _C, float(i))
            conn.handle_timer(float(i) + 10)
            _drain(conn, float(i))


def _mutated(data: bytes) -> None:
    if len(data) < 4:
        return
    role = DtlsRole.SERVER if data[1] & 1 else DtlsRole.CLIENT
    inbox = _INBOX[role]
    target = data[1] // 2 % len(inbox)
    original = inbox[target]
    offset = int.from_bytes(data[2:4], "big") % (len(original) + 1)
    patch = data[4:]
    mode = data[0] >> 1 & 3
    if mode == 0:  # overwrite
        mutated = original[:offset] + patch + original[offset + len(patch) :]
    elif mode == 1:  # insert
        mutated = original[:offset] + patch + original[offset:]
    elif mode == 2:  # truncate and append
        mutated = original[:offset] + patch
    else:  # xor
        mutated = bytes(b ^ patch[i % len(patch)] if patch else b for i, b in enumerate(original))
    conn = _conn(role, cookie=True)
    addr = _C if role == DtlsRole.SERVER else _S
    for i, datagram in enumerate(inbox):
        conn.receive_datagram(mutated if i == target else datagram, addr, 0.0)
        _drain(conn, 0.0)
    conn.handle_timer(100.0)
    _drain(conn, 100.0)


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    if not data:
        return
    if data[0] & 1:
        _mutated(data)
    else:
        _raw(data)


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
