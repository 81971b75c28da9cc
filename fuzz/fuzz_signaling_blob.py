"""Fuzz the copy-paste blob decoder: any text gives a (type, sdp) or BlobError, and a
decoded blob re-encodes to one that decodes the same.

    .venv/bin/python fuzz/fuzz_signaling_blob.py -atheris_runs=100000
"""

from __future__ import annotations

import sys

from pyrtcstack.signaling.blob import BlobError, decode_blob, encode_blob


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    text = data.decode("utf-8", errors="replace")
    for candidate in (text, "RTC1o." + text, "RTC1a." + text.replace(" ", "")):
        try:
            kind, sdp = decode_blob(candidate)
        except BlobError:
            continue
        assert decode_blob(encode_blob(kind, sdp)) == (kind, sdp)
    # Encoding arbitrary text always round-trips (or is refused as too large).
    try:
        blob = encode_blob("answer", text)
    except BlobError:
        return
    assert decode_blob(blob) == ("answer", text)
    # A valid blob damaged at a position the input picks: refused, or (if the change
    # happens to be harmless, e.g. in base64 padding bits) decoded to the same SDP.
    if data:
        i = 6 + data[0] * 7 % max(1, len(blob) - 6)
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        if i < len(blob):
            changed = alphabet[(alphabet.index(blob[i]) + 1 + data[-1] % 63) % 64]
            try:
                got = decode_blob(blob[:i] + changed + blob[i + 1 :])
            except BlobError:
                return
            assert got == ("answer", text)


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
