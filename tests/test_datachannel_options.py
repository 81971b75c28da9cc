"""ChannelOptions: one RTCDataChannelInit value, checked once, passed from the asyncio
PeerConnection through the core and the manager to DATA_CHANNEL_OPEN (RFC 8832 §5.1)."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.datachannel import (
    DCEP_PRIORITY,
    ChannelOptions,
    DataChannelManager,
    DataChannelOpen,
    InvalidStateError,
    OperationError,
    Ppid,
    decode_dcep,
)
from pyrtcstack.peerconnection import PeerConnectionCore, Settings
from pyrtcstack.sctp import SctpConfig, decode_packet
from pyrtcstack.sctp.chunks import DataChunk
from pyrtcstack.sctp.config import MAX_STREAMS

WAIT = 20.0

# Each bad RTCDataChannelInit (and label) with what webrtc-pc throws.
BAD: list[tuple[str, dict[str, Any]]] = [
    ("both max", {"max_packet_life_time": 100, "max_retransmits": 3}),
    ("label > 65535 bytes", {"label": "é" * 32768}),
    ("label not str", {"label": b"x"}),
    ("protocol > 65535 bytes", {"protocol": "x" * 65536}),
    ("negotiated without id", {"negotiated": True}),
    ("id 65535", {"negotiated": True, "id": 65535}),
    ("id negative", {"id": -1}),
    ("id not int", {"id": 1.0}),
    ("max_retransmits > 65535", {"max_retransmits": 65536}),
    ("max_packet_life_time negative", {"max_packet_life_time": -1}),
    ("max_retransmits bool", {"max_retransmits": True}),
    ("priority name", {"priority": "urgent"}),
    ("priority > 65535", {"priority": 65536}),
    ("ordered not bool", {"ordered": 1}),
]


def _managers(
    streams: int = MAX_STREAMS,
) -> tuple[DataChannelManager, DataChannelManager, Callable[[], list[bytes]]]:
    a = DataChannelManager(dtls_role="client")
    b = DataChannelManager(SctpConfig(inbound_streams=streams), dtls_role="server")

    def pump() -> list[bytes]:
        """Move packets both ways until quiet; return a's SCTP packets."""
        sent: list[bytes] = []
        for _ in range(20):
            moved = False
            for x, y in ((a, b), (b, a)):
                for packet in x.packets_to_send(0.0):
                    if x is a:
                        sent.append(packet)
                    y.receive_packet(packet, 0.0)
                    moved = True
            if not moved:
                break
        return sent

    a.connect(0.0)
    b.connect(0.0)
    return a, b, pump


def _opens(packets: list[bytes]) -> list[DataChannelOpen]:
    out = []
    for packet in packets:
        for chunk in decode_packet(packet).chunks:
            if isinstance(chunk, DataChunk) and chunk.ppid == Ppid.DCEP:
                msg = decode_dcep(chunk.data)
                if isinstance(msg, DataChannelOpen):
                    out.append(msg)
    return out


@pytest.mark.parametrize(("case", "kwargs"), BAD, ids=[c for c, _ in BAD])
def test_each_invalid_init_is_a_type_error_at_every_layer(
    case: str, kwargs: dict[str, Any]
) -> None:
    kwargs = dict(kwargs)
    label = kwargs.pop("label", "x")
    manager = DataChannelManager(dtls_role="client")
    with pytest.raises(TypeError):
        manager.create_data_channel(label, **kwargs)
    core = PeerConnectionCore()
    with pytest.raises(TypeError):
        core.create_data_channel(label, **kwargs)

    async def aio() -> None:
        pc = PeerConnection(settings=Settings(host_addresses=["127.0.0.1"]))
        try:
            with pytest.raises(TypeError):
                pc.create_data_channel(label, **kwargs)
        finally:
            await pc.close()

    asyncio.run(aio())
    assert manager.channels == [] and core.sctp.channels == []


# createDataChannel is written at three layers; the manager does the work, the peer
# connections (core, asyncio) hand over. Their parameters must not drift apart.
LAYERS = [DataChannelManager, PeerConnectionCore, PeerConnection]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda c: c.__name__)
def test_create_data_channel_has_the_same_parameters_at_every_layer(layer: type) -> None:
    for name in ("create_data_channel", "create_channel"):
        reference = inspect.signature(getattr(DataChannelManager, name)).parameters
        assert inspect.signature(getattr(layer, name)).parameters == reference, name
    # ... and they are ChannelOptions's fields, with its defaults (RTCDataChannelInit)
    params = list(inspect.signature(layer.create_data_channel).parameters.values())[2:]
    fields = dataclasses.fields(ChannelOptions)
    assert [(p.name, p.default, p.kind) for p in params] == [
        (f.name, f.default, inspect.Parameter.KEYWORD_ONLY) for f in fields
    ]


def test_create_data_channel_passes_every_option_at_every_layer() -> None:
    """Each layer gives each keyword to the channel (a parameter kept in the signature
    but not passed on would leave the default)."""
    inits: list[dict[str, Any]] = [
        {"ordered": False, "max_retransmits": 3, "protocol": "p", "priority": "high"},
        {"max_packet_life_time": 150, "negotiated": True, "id": 7, "priority": 700},
    ]

    def check(channel: Any, init: dict[str, Any]) -> None:
        options = ChannelOptions(**init)
        for key in init:
            want = options.dcep_priority if key == "priority" else getattr(options, key)
            assert getattr(channel, key) == want, key

    for init in inits:
        check(DataChannelManager(dtls_role="client").create_data_channel("x", **init), init)
        check(PeerConnectionCore().create_data_channel("x", **init), init)

    async def aio() -> None:
        pc = PeerConnection(settings=Settings(host_addresses=["127.0.0.1"]))
        try:
            for init in inits:
                check(pc.create_data_channel("x", **init), init)
        finally:
            await pc.close()

    asyncio.run(aio())


def test_options_value_is_checked_when_made() -> None:
    with pytest.raises(TypeError, match="exclusive"):
        ChannelOptions(max_packet_life_time=1, max_retransmits=1)
    with pytest.raises(TypeError, match="RTCPriorityType"):
        ChannelOptions(priority="urgent")  # type: ignore[arg-type]
    options = ChannelOptions(protocol="a\ud800b", priority="medium")
    assert options.protocol == "a\ufffdb"  # USVString, so the OPEN can be encoded
    assert options.dcep_priority == 512
    assert ChannelOptions().dcep_priority == 256  # "low", the W3C default
    assert ChannelOptions(priority=700).dcep_priority == 700  # a raw DCEP value
    with pytest.raises(AttributeError):
        options.ordered = False  # type: ignore[misc]
    assert DCEP_PRIORITY == {"very-low": 128, "low": 256, "medium": 512, "high": 1024}


def test_id_in_use_or_beyond_the_streams_is_operation_error() -> None:
    a, _b, pump = _managers(streams=16)
    a.create_data_channel("n", negotiated=True, id=4)
    with pytest.raises(OperationError):
        a.create_data_channel("again", negotiated=True, id=4)
    with pytest.raises(InvalidStateError):  # OperationError was InvalidStateError before
        a.create_data_channel("again", negotiated=True, id=4)
    pump()
    assert a.association.is_established
    streams = a.association.outbound_streams
    assert streams == 16  # the peer's MIS (RFC 9260 §5.1.1)
    with pytest.raises(OperationError, match="beyond"):
        a.create_data_channel("far", negotiated=True, id=streams)
    a.create_data_channel("near", negotiated=True, id=streams - 2)


def test_every_option_reaches_the_open_message() -> None:
    a, _b, pump = _managers()
    pump()
    a.create_data_channel("p", priority="high", max_retransmits=2, ordered=False, protocol="j")
    a.create_channel("q", ChannelOptions(priority="very-low", max_packet_life_time=150))
    a.create_data_channel("r\udc00", priority=700)
    opens = {m.label: m for m in _opens(pump())}
    assert set(opens) == {"p", "q", "r\ufffd"}
    p, q, r = opens["p"], opens["q"], opens["r\ufffd"]
    assert (p.priority, p.max_retransmits, p.ordered, p.protocol) == (1024, 2, False, "j")
    assert (q.priority, q.max_packet_life_time, q.ordered) == (128, 150, True)
    assert r.priority == 700


def test_priority_reaches_the_peer_from_the_asyncio_api() -> None:
    async def main() -> None:
        settings = Settings(host_addresses=["127.0.0.1"])
        a = PeerConnection(settings=settings)
        b = PeerConnection(settings=settings)
        seen: dict[str, Any] = {}
        both = asyncio.Event()

        def on_channel(channel: Any) -> None:
            seen[channel.label] = channel
            if len(seen) == 2:
                both.set()

        b.on("datachannel", on_channel)
        try:
            high = a.create_data_channel("high", priority="high")
            medium = a.create_channel("medium", ChannelOptions(priority="medium", ordered=False))
            assert (high.priority, medium.priority) == (1024, 512)
            await a.set_local_description()
            await a.wait_gathering_complete()
            assert a.local_description is not None
            await b.set_remote_description(a.local_description)
            await b.set_local_description()
            await b.wait_gathering_complete()
            assert b.local_description is not None
            await a.set_remote_description(b.local_description)
            await asyncio.wait_for(both.wait(), WAIT)
            # what b's channels say came off the wire, in b's DATA_CHANNEL_OPENs
            assert seen["high"].priority == 1024
            assert (seen["medium"].priority, seen["medium"].ordered) == (512, False)
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_docs_example_runs() -> None:
    text = (Path(__file__).parent.parent / "docs" / "datachannel.md").read_text(encoding="utf-8")
    (code,) = [
        b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "ChannelOptions(" in b
    ]
    exec(compile(code, "docs/datachannel.md", "exec"), {"__name__": "docs"})


_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**17), 2**17),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["very-low", "low", "medium", "high"]),
    st.binary(max_size=4),
)


@given(st.fixed_dictionaries({}, optional=dict.fromkeys(ChannelOptions.__dataclass_fields__, _ANY)))
def test_any_init_is_accepted_or_type_error_and_then_encodes(kwargs: dict[str, Any]) -> None:
    try:
        options = ChannelOptions(**kwargs)
    except TypeError:
        return
    assert 0 <= options.dcep_priority <= 0xFFFF
    reliability = options.max_retransmits or options.max_packet_life_time or 0
    DataChannelOpen(0, options.dcep_priority, reliability, "l", options.protocol).encode()
