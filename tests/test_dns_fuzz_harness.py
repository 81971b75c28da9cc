"""The DNS atheris harness runs over real dnsmasq answers and hostile seeds so it cannot rot."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from test_dns_codec import DNSMASQ_CNAME, DNSMASQ_NAPTR, DNSMASQ_NXDOMAIN, DNSMASQ_SRV

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_dns", FUZZ / "fuzz_dns.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seeds() -> list[bytes]:
    out = [b"", bytes(12), DNSMASQ_SRV, DNSMASQ_NAPTR, DNSMASQ_CNAME, DNSMASQ_NXDOMAIN]
    out.append(bytes.fromhex("abcd81800001000000000000") + b"\x01a\xc0\x0c\x00\x01\x00\x01")
    for data in list(out):
        out += [data[:cut] for cut in (len(data) // 2, len(data) - 1)]
        out += [
            data[:at] + bytes([data[at] ^ 0xC0]) + data[at + 1 :] for at in range(0, len(data), 7)
        ]
    return out


@pytest.mark.parametrize("data", seeds())
def test_the_harness_holds_on_the_seeds(data: bytes) -> None:
    load().TestOneInput(data)


def test_the_harness_catches_a_round_trip_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load()
    real = module.Message.encode
    monkeypatch.setattr(module.Message, "encode", lambda self, **kw: real(self, **kw)[:-1])
    with pytest.raises(AssertionError, match="round-trip"):
        module.TestOneInput(DNSMASQ_SRV)
