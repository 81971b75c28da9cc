"""atheris harness: hostile bytes into the STUN decoder and every typed getter.

Invariants: :func:`pyrtcstack.stun.decode` raises nothing but ``StunParseError``; every
``get_*`` helper raises nothing but ``StunParseError``; a decoded message re-encodes and
decodes back to an equal message. Run:
``.venv/bin/python fuzz/fuzz_stun.py -atheris_runs=1000000`` (add a corpus directory of
seed files as the last argument to start from real messages).
"""

from __future__ import annotations

import contextlib
import sys

from pyrtcstack.stun import AttributeType, Message, StunParseError, decode

_GETTERS = (
    "get_error",
    "get_unknown_attributes",
    "get_change_request",
    "get_password_algorithms",
    "get_password_algorithm",
    "get_requested_transport",
    "get_channel_number",
    "get_even_port",
    "get_address_error",
    "get_icmp",
)
_TYPED = ("get_address", "get_addresses", "get_uint32", "get_uint64", "get_text")


def _exercise(m: Message) -> None:
    for t in {t for t, _ in m.attributes} | {int(a) for a in AttributeType}:
        for name in _TYPED:
            with contextlib.suppress(StunParseError):
                getattr(m, name)(t)
        with contextlib.suppress(StunParseError):
            m.get_address_family(t)
    for name in _GETTERS:
        with contextlib.suppress(StunParseError):
            getattr(m, name)()
    m.verify_integrity(b"key")
    again = decode(m.encode(b"key", fingerprint=True))
    if again != m or not again.verify_integrity(b"key"):
        raise AssertionError("re-encoded message does not round-trip")


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    for check in (True, False):
        try:
            m = decode(data, check_fingerprint=check)
        except StunParseError:
            continue
        _exercise(m)


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
