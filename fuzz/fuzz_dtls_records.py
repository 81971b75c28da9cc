"""atheris harness: the DTLS record framer, handshake fragment parser, reassembler and every
handshake message decoder (pyrtcstack.dtls).

Run: ``.venv/bin/python fuzz/fuzz_dtls_records.py -atheris_runs=200000``. Importable without
atheris (tests call :func:`TestOneInput` over a few seeds). Only DtlsDecodeError may escape a
decoder; whatever decodes must re-encode to something that decodes to the same value.
"""

from __future__ import annotations

import contextlib
import sys

from pyrtcstack.dtls.errors import DtlsDecodeError
from pyrtcstack.dtls.fragments import Reassembler, parse_fragments
from pyrtcstack.dtls.messages import (
    Certificate,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    ClientKeyExchange,
    Finished,
    HelloVerifyRequest,
    ServerHello,
    ServerHelloDone,
    ServerKeyExchange,
    decode_use_srtp,
)
from pyrtcstack.dtls.record import encode_record, parse_records

MESSAGES = (
    ClientHello,
    ServerHello,
    HelloVerifyRequest,
    Certificate,
    ServerKeyExchange,
    CertificateRequest,
    ServerHelloDone,
    ClientKeyExchange,
    CertificateVerify,
    Finished,
)


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    try:
        records, _trailing = parse_records(data)
    except DtlsDecodeError:
        records = []
    for r in records:
        again, _ = parse_records(
            encode_record(r.content_type, r.version, r.epoch, r.sequence_number, r.fragment)
        )
        assert again == [r]
    reassembler = Reassembler()
    for payload in [data] + [r.fragment for r in records]:
        try:
            fragments = parse_fragments(payload)
        except DtlsDecodeError:
            continue
        for f in fragments:
            with contextlib.suppress(DtlsDecodeError):
                reassembler.add(f)
            while (message := reassembler.pop()) is not None:
                _decode_all(message[2])
    _decode_all(data)
    with contextlib.suppress(DtlsDecodeError):
        decode_use_srtp(data)


def _decode_all(body: bytes) -> None:
    for cls in MESSAGES:
        try:
            message = cls.decode(body)  # type: ignore[attr-defined]
        except DtlsDecodeError:
            continue
        assert type(message).decode(message.encode()) == message


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
