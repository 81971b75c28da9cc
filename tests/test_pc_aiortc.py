"""Interop with aiortc's RTCPeerConnection on loopback, both as offerer and answerer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.pc_harness import Aiortc, Ours, check_scenario, data_channel_scenario
from tests.peers import require_module

pytestmark = pytest.mark.interop


@pytest.fixture
def aiortc(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = require_module("aiortc")
    aioice = require_module("aioice")
    # INTEROP.md §1: aioice skips loopback when gathering; pin it to 127.0.0.1.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda *a, **k: ["127.0.0.1"])
    return module


@pytest.mark.parametrize("we_offer", [True, False], ids=["we-offer", "aiortc-offers"])
@pytest.mark.parametrize("closer", ["offerer", "answerer"])
def test_data_channels_with_aiortc(aiortc: Any, we_offer: bool, closer: str) -> None:
    async def main() -> None:
        ours, theirs = Ours(), Aiortc(aiortc)
        offerer, answerer = (ours, theirs) if we_offer else (theirs, ours)
        try:
            check_scenario(await data_channel_scenario(offerer, answerer, closer))
        finally:
            await ours.close()
            await theirs.close()

    asyncio.run(main())
