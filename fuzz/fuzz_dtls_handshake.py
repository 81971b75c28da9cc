"""atheris harness: a running DtlsConnection (server, and client after its ClientHello) fed
arbitrary datagrams. Nothing may escape: bad input is dropped and counted or ends the
handshake with a Failed event.

Run: ``.venv/bin/python fuzz/fuzz_dtls_handshake.py -atheris_runs=50000``. Importable without
atheris (tests call :func:`TestOneInput` over a few seeds).
"""

from __future__ import annotations

import datetime
import random
import sys

from pyrtcstack.dtls import DtlsCertificate, DtlsConnection, DtlsRole

_CERT = DtlsCertificate.generate(
    random.Random(1), not_before=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
)
_PEER = ("192.0.2.1", 5000)
_HEADER = b"\x16\xfe\xfd\x00\x00\x00\x00\x00\x00\x00\x00"


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    for role in (DtlsRole.SERVER, DtlsRole.CLIENT):
        conn = DtlsConnection(
            role,
            certificate=_CERT,
            rng=random.Random(0),
            remote_address=_PEER,
            verify_fingerprint=False,
            use_cookie=bool(data[:1] == b"\x01"),
        )
        conn.start(0.0)
        conn.datagrams_to_send(0.0)
        # the input split into datagrams at 0xff bytes; each also given a plausible record
        # header (type handshake, epoch 0) with the right length so the parsers get deep
        for i, chunk in enumerate(data.split(b"\xff")):
            conn.receive_datagram(chunk, _PEER, float(i))
            framed = _HEADER + len(chunk).to_bytes(2, "big") + chunk
            conn.receive_datagram(framed, _PEER, float(i))
            conn.datagrams_to_send(float(i))
            conn.handle_timer(float(i) + 10)
            while conn.next_event() is not None:
                pass


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
