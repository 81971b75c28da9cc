"""What a peer connection keeps and does while it sits idle (issue 15 §5, "setup and
scale"): the behaviour the memory and idle-CPU work must not change, and what it removed.

* RFC 7675 §5.1 consent checks still leave every 4-6 s on the virtual clock, and an
  idle connection's answered check does not leave a wake-up behind at its old
  retransmission time;
* a data-only connection makes no SRTP session (libsrtp's two sessions are made at the
  first media use), media connections still key SRTP;
* a finished DTLS 1.2 handshake drops its transcript, its ephemeral ECDHE key and the
  parsed peer certificate (RFC 5246 §8.1), and keeps the peer certificate's DER;
* an idle consent round reaches the ICE agent only (the core keeps the DTLS and SCTP
  deadline until it hands them something or a channel API call marks them touched),
  while heartbeats still leave and an API call between rounds is acted on at once;
* the SACK that empties the send buffer delivers bufferedamountlow with its own drain
  (an event the pump left in SCTP waited for an unrelated wake-up: issue 15's stalled
  transfer to Chromium);
* the 1.3 engine keeps no instance dict and drops the epoch-2 keys it no longer needs;
* the cores share one stateless CSPRNG when none is injected;
* :class:`pyrtcstack.aio.channels.Flag` behaves as ``asyncio.Event``.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest

from pyrtcstack.common.core import Event, default_rng
from pyrtcstack.datachannel import ChannelBufferedAmountLow, ChannelClosed, ChannelMessage
from pyrtcstack.dtls.engine13 import Dtls13Engine
from pyrtcstack.ice import CONSENT_INTERVAL
from pyrtcstack.media import G711Track, ToneSource
from pyrtcstack.peerconnection import PeerConnectionCore
from tests.test_pc_core import Net, negotiate, pair


def _open_channel(net: Net) -> None:
    channel = net.a.create_data_channel("idle")
    negotiate(net)
    net.run(lambda: channel.ready_state == "open")


def _consent_times(net: Net, core: PeerConnectionCore, seconds: float) -> list[float]:
    """The virtual times at which ``core`` sent consent checks during ``seconds``."""
    assert core.agent is not None
    stats = core.agent.stats
    seen = [stats["consent_requests_sent"]]
    times: list[float] = []
    end = net.now + seconds

    def until() -> bool:
        count = stats["consent_requests_sent"]
        if count != seen[0]:
            times.extend([net.now] * (count - seen[0]))
            seen[0] = count
        return net.now >= end

    net.run(until, limit=end + 10)
    return times


@pytest.mark.parametrize("side", ["a", "b"])
def test_consent_checks_leave_every_four_to_six_seconds(side: str) -> None:
    """RFC 7675 §5.1: a check every 5 s randomised to [0.8, 1.2] of it, on both ends,
    answered (the connection stays connected for minutes of idle virtual time)."""
    a, b, net = pair(7)
    _open_channel(net)
    core = a if side == "a" else b
    times = _consent_times(net, core, 300.0)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(gaps) >= 45
    assert all(0.8 * CONSENT_INTERVAL - 1e-6 <= g <= 1.2 * CONSENT_INTERVAL + 1e-6 for g in gaps)
    assert max(gaps) - min(gaps) > 0.5  # randomised, not a fixed period
    assert core.agent is not None and core.agent.stats["consent_missed"] == 0
    assert core.connection_state == "connected"


def test_an_answered_consent_check_leaves_no_early_deadline() -> None:
    """Once the response settled the check, the agent's next deadline is the next check
    (or the 30 s expiry), not the retransmission that was due 0.5 s after the send."""
    a, _b, net = pair(8)
    _open_channel(net)
    agent = a.agent
    assert agent is not None
    before = agent.stats["consent_requests_sent"]
    net.run(lambda: agent.stats["consent_requests_sent"] > before, limit=60)
    sent_at = net.now
    net.run(lambda: agent.consent.tx is None, limit=60)  # answered ~2 ms later
    deadline = agent.get_timer()
    assert deadline is not None and deadline >= sent_at + 0.8 * CONSENT_INTERVAL - 1e-6


def test_a_data_only_connection_makes_no_srtp_session() -> None:
    """The keys are exported at the end of the handshake (RFC 5764 §4.2) but libsrtp's
    sessions are made at the first media use: none for a data channel alone."""
    _a, _b, net = pair(9)
    _open_channel(net)
    for core in (net.a, net.b):
        assert core.dtls_state == "connected"
        assert core.media.keyed
        assert core.srtp is None


def test_media_still_keys_srtp_at_its_first_use() -> None:
    a, b, net = pair(10)
    a.add_track(G711Track(ToneSource(440, duration=1.0)))
    b.add_track(G711Track(ToneSource(660, duration=1.0)))
    negotiate(net)
    net.run(
        lambda: all(
            c.srtp is not None and c.srtp.stats.rtp_unprotected > 5 for c in (net.a, net.b)
        ),
        limit=20,
    )


def test_a_finished_dtls_handshake_keeps_only_what_the_session_needs() -> None:
    """RFC 5246 §8.1: what made the premaster secret goes once the master secret exists;
    the transcript and the parsed peer certificate are not needed after Finished. The
    peer certificate's DER (stats, fingerprint checks) stays. (DTLS 1.2, forced: the 1.3
    engine, the default since issue 15, does not drop these yet — docs/peerconnection.md.)"""
    from pyrtcstack.peerconnection import Settings

    dtls12 = Settings(dtls_versions=("1.2",))
    a = PeerConnectionCore(settings=dtls12, rng=random.Random(12))
    b = PeerConnectionCore(settings=dtls12, rng=random.Random(112))
    net = Net(a, b)
    _open_channel(net)
    for core in (net.a, net.b):
        dtls = core.dtls
        assert dtls.is_established
        role = dtls.engine.handshake  # type: ignore[attr-defined]
        assert role._ecdhe is None
        assert len(role._transcript) == 0
        assert role._peer_certificate is None and role._peer_key is None
        assert dtls.peer_certificate is not None and len(dtls.peer_certificate) > 100


def test_a_finished_dtls13_handshake_keeps_only_what_the_session_needs() -> None:
    """The same for DTLS 1.3, the default: once both Finished are checked (RFC 8446 §4.4.1)
    the engine drops its transcript, ClientHello, key shares and parsed peer certificate,
    and the connection keeps no 1.2 engine after the hand-over; the peer's DER stays."""
    _a, _b, net = pair(12)
    _open_channel(net)
    for core in (net.a, net.b):
        dtls = core.dtls
        engine = dtls.engine
        assert dtls.is_established and isinstance(engine, Dtls13Engine)
        role = engine.handshake
        assert len(role._transcript) == 0 and role._client_hello is None
        assert not role._shares and role._peer_certificate is None and role._peer_key is None
        assert dtls.peer_certificate is not None and len(dtls.peer_certificate) > 100


def test_cores_share_one_stateless_csprng_by_default() -> None:
    shared = default_rng(None)
    assert isinstance(shared, random.SystemRandom)
    assert default_rng(None) is shared
    assert PeerConnectionCore()._rng is shared
    injected = random.Random(1)
    assert default_rng(injected) is injected
    assert shared.getrandbits(64) != shared.getrandbits(64)


def test_flag_behaves_as_an_asyncio_event() -> None:
    from pyrtcstack.aio.channels import Flag

    async def main() -> list[str]:
        flag = Flag()
        log: list[str] = []

        async def waiter(name: str) -> None:
            await flag.wait()
            log.append(name)

        tasks = [asyncio.create_task(waiter(n)) for n in ("one", "two")]
        await asyncio.sleep(0)
        assert not flag.is_set() and log == []
        flag.set()
        await asyncio.gather(*tasks)
        assert flag.is_set()
        await flag.wait()  # set: returns at once
        flag.clear()
        assert not flag.is_set()
        cancelled = asyncio.create_task(flag.wait())
        await asyncio.sleep(0)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert flag._waiters == []  # a cancelled waiter leaves nothing behind
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await flag.wait()
        return log

    assert sorted(asyncio.run(main())) == ["one", "two"]


@pytest.mark.parametrize(
    "alphabet", ["ab", "abcdef0123456789", "abcdefghijklmnopqrstuvwxyz0123456789"]
)
def test_random_text_is_uniform_over_the_alphabet(alphabet: str) -> None:
    """One randbytes call per draw, with rejection above the largest multiple of the
    alphabet size: every character equally likely (a chi-square bound at p ~ 1e-6)."""
    from pyrtcstack.common.core import random_text

    rng = random.Random(5)
    text = random_text(rng, alphabet, 36000)
    assert len(text) == 36000 and set(text) <= set(alphabet)
    expected = len(text) / len(alphabet)
    chi2 = sum((text.count(c) - expected) ** 2 / expected for c in alphabet)
    assert chi2 < len(alphabet) + 10 * len(alphabet) ** 0.5 + 25
    assert random_text(random.Random(5), alphabet, 20) == random_text(
        random.Random(5), alphabet, 20
    )
    with pytest.raises(ValueError):
        random_text(rng, "", 3)


@pytest.mark.parametrize(
    "alphabet", ["ab", "abc", "abcdef0123456789", "+/ABCxyz019", "αβγ", "x" * 256, "é" + "a" * 100]
)
def test_random_text_is_the_rejection_draw_it_documents(alphabet: str) -> None:
    """Byte b of each randbytes draw below the largest multiple of the alphabet's size
    gives alphabet[b % size], the others are dropped and drawn again: the same text as
    that loop written out, for the same rng (the ASCII translate path and the other)."""
    from pyrtcstack.common.core import random_text

    def reference(rng: random.Random, n: int) -> str:
        size = len(alphabet)
        limit = 256 - 256 % size
        out: list[str] = []
        while len(out) < n:
            out.extend(alphabet[b % size] for b in rng.randbytes(n - len(out)) if b < limit)
        return "".join(out)

    for seed in range(20):
        for n in (0, 1, 8, 24, 300):
            assert random_text(random.Random(seed), alphabet, n) == reference(
                random.Random(seed), n
            )


def test_ice_credentials_use_the_whole_ice_char_alphabet() -> None:
    """RFC 8445 §5.3 / RFC 8839 §5.4: ice-char is ALPHA / DIGIT / "+" / "/"; ufrag and pwd
    keep their lengths and draw from all 64 characters."""
    from pyrtcstack.ice import IceAgent, IceConfig

    seen: set[str] = set()
    for seed in range(40):
        agent = IceAgent(IceConfig(), rng=random.Random(seed))
        assert len(agent.local_ufrag) == 8 and len(agent.local_pwd) == 24
        seen |= set(agent.local_ufrag + agent.local_pwd)
    assert len(seen) == 64


def test_stun_hmac_is_right_with_more_keys_than_its_cache() -> None:
    """Hundreds of connections sign with more keys than the HMAC pad cache holds: every
    MESSAGE-INTEGRITY still equals RFC 2104's, and the cache stays bounded."""
    import hmac as std_hmac

    from pyrtcstack.stun import message as stun_message

    keys = [bytes([i]) * 16 for i in range(3 * stun_message.HMAC_KEY_CACHE_SIZE)]
    data = b"\x00\x01\x00\x2c\x21\x12\xa4\x42" + bytes(12)
    for _ in range(3):
        for key in keys + keys[:10]:
            for digest in ("sha1", "sha256"):
                got = stun_message._hmac(key, data, digest)
                assert got == std_hmac.digest(key, data, digest)
            assert len(stun_message._pads) <= stun_message.HMAC_KEY_CACHE_SIZE
    long_key = bytes(range(100))  # longer than a block: hashed first (RFC 2104 §2)
    assert stun_message._hmac(long_key, data, "sha1") == std_hmac.digest(long_key, data, "sha1")


def test_a_certificate_keeps_its_der_and_parses_on_demand() -> None:
    """DtlsCertificate holds the DER and the key only (no parsed X.509 object of ~2.5 KiB
    of OpenSSL memory per peer connection); ``certificate`` parses it when asked."""
    from cryptography.hazmat.primitives import serialization

    from pyrtcstack.dtls import DtlsCertificate

    cert = DtlsCertificate.generate(random.Random(3))
    assert not hasattr(cert, "__dict__")
    assert cert.certificate.public_bytes(serialization.Encoding.DER) == cert.der
    assert b"BEGIN CERTIFICATE" in cert.certificate_pem()


@pytest.mark.parametrize("owner", ["queue", "core"])
def test_event_queues_stay_first_in_first_out(owner: str) -> None:
    """The cores' event queues (common.core.EventQueue, which the ICE agent uses) are two
    lists, not a deque: events queued while earlier ones are being taken still come out
    in order."""
    from pyrtcstack.common.core import EventQueue
    from pyrtcstack.ice.events import RoleChanged

    take: Callable[[], Event | None]
    if owner == "queue":
        queue = EventQueue()
        push: Callable[[Event], None] = queue.push
        take = queue.pop
    else:
        core = PeerConnectionCore()

        def push(event: Event) -> None:
            core.emit_event(event)  # the core's one way into its EventQueue

        take = core.next_event
    events = [RoleChanged(bool(i % 2)) for i in range(40)]

    out: list[object] = []
    pending = list(events)
    step = 0
    while pending or out != events:
        for _ in range(step % 4):  # queue 0-3 more, then take one
            if pending:
                push(pending.pop(0))
        step += 1
        event = take()
        if event is None and not pending:
            break
        if event is not None:
            out.append(event)
    assert [id(e) for e in out] == [id(e) for e in events]
    assert take() is None


def test_ephemeral_ecdhe_keys_are_fresh_per_handshake(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 5246 §7.4.3 / RFC 8422 §2 (ECDHE): each handshake makes its own ephemeral key,
    on both ends, even when the peer connections share one certificate and the process
    CSPRNG; nothing pre-generates or keeps one for the next handshake."""
    from pyrtcstack.dtls import DtlsCertificate, keyexchange
    from pyrtcstack.peerconnection import Configuration

    made: list[bytes] = []
    original = keyexchange.EcdheKey.__init__

    def record(self: keyexchange.EcdheKey, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self.public_bytes)

    monkeypatch.setattr(keyexchange.EcdheKey, "__init__", record)
    shared = DtlsCertificate.generate()
    for _ in range(3):
        a = PeerConnectionCore(Configuration(certificates=[shared]))
        b = PeerConnectionCore(Configuration(certificates=[shared]))
        _open_channel(Net(a, b))
        assert a.dtls.is_established and b.dtls.is_established
    # at least one per end per handshake (a DTLS 1.3 client offers a share per group), and
    # none reused
    assert len(made) >= 6
    assert len(set(made)) == len(made)


def test_the_ice_agent_keeps_no_instance_dict() -> None:
    """The agent has more attributes than a shared-key dict holds: its state is in
    __slots__ (1.55 KiB less per connection), and its parts add no attributes of their own."""
    from pyrtcstack.ice import IceAgent, IceConfig

    agent = IceAgent(IceConfig(), rng=random.Random(2))
    assert not hasattr(agent, "__dict__")
    with pytest.raises(AttributeError):
        agent.not_an_attribute = 1  # type: ignore[attr-defined]


def test_the_dtls_connection_keeps_no_instance_dict() -> None:
    """The same for the DTLS connection (64 attributes) and the peer connection core, on
    a finished handshake."""
    _a, _b, net = pair(13)
    _open_channel(net)
    for core in (net.a, net.b):
        assert not hasattr(core.dtls, "__dict__")
        assert not hasattr(core, "__dict__")  # the core too (57 attributes)


def test_coroutine_handler_tasks_are_kept_while_running_and_forgotten_after() -> None:
    from pyrtcstack.aio.channels import EventEmitter

    async def main() -> None:
        emitter = EventEmitter()
        started = asyncio.Event()
        release = asyncio.Event()

        async def handler() -> None:
            started.set()
            await release.wait()

        emitter.on("x", handler)
        emitter.emit("x")
        emitter.emit("x")
        await started.wait()
        assert len(emitter._tasks) == 2  # referenced while they run
        release.set()
        for _ in range(5):
            await asyncio.sleep(0)
        assert emitter._tasks == {}

    asyncio.run(main())


def test_the_sctp_sender_keeps_no_instance_dict() -> None:
    """The SCTP sender (43 attributes) likewise: slots, 1.5 -> 0.4 KiB per association."""
    _a, _b, net = pair(14)
    _open_channel(net)
    for core in (net.a, net.b):
        assert not hasattr(core.sctp.association.sender, "__dict__")


def test_a_connection_in_use_holds_no_table_for_every_stream() -> None:
    """A data channel connection that opened a channel and moved a message each way holds
    its Python objects in far less than the 128 KiB per SCTP association that a next-SSN
    table for all 65,535 negotiated streams cost (issue 15 §5; tracemalloc, both peers,
    after a first connection warmed the imports and caches: ~40 KiB; 176 KiB before)."""
    import tracemalloc

    _open_channel(pair(16)[2])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _a, _b, net = pair(15)
        channel = net.a.create_data_channel("used")
        negotiate(net)
        net.run(lambda: channel.ready_state == "open")
        got: list[object] = []

        def handler(name: str, pc: PeerConnectionCore, ev: Event) -> None:
            if isinstance(ev, ChannelMessage):
                got.append(ev.data)
                if name == "b":
                    ev.channel.send(b"pong")

        net.handlers.append(handler)
        channel.send(b"ping")
        net.run(lambda: len(got) == 2)
        per_connection = (tracemalloc.get_traced_memory()[0] - before) / 2
    finally:
        tracemalloc.stop()
    assert got == [b"ping", b"pong"]
    assert per_connection < 80 * 1024, per_connection


def _count_lower_calls(
    monkeypatch: pytest.MonkeyPatch, core: PeerConnectionCore, calls: list[str]
) -> None:
    """Record in ``calls`` every call the core makes into its DTLS connection or
    transport and its data channel manager (the layers below ICE) from now on."""

    def spy(owner: object, name: str) -> None:
        original = getattr(owner, name)

        def counted(*args: object, **kwargs: object) -> object:
            calls.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)

    for name in ("get_timer", "handle_timer", "packets_to_send", "next_event"):
        spy(core.sctp, name)
    for cls in (type(core.dtls), type(core.dtls_transport)):
        for name in ("get_timer", "handle_timer", "next_event", "datagrams_to_send"):
            if hasattr(cls, name):
                spy(cls, name)


def test_an_idle_consent_round_asks_dtls_and_sctp_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RFC 7675 consent is ICE's alone: while DTLS and SCTP are drained and their
    deadline (the SCTP heartbeat, 30 s after the last data) is ahead, the three wake-ups
    of a consent round (the timer that sends the check, the request in, the answer in)
    go to the agent only; the core keeps the lower layers' deadline until it hands them
    something (docs/peerconnection.md, "idle CPU")."""
    _a, _b, net = pair(21)
    _open_channel(net)
    settled = net.now + 3.0  # the checks of the setup, DTLS's and SCTP's last timers
    net.run(lambda: net.now >= settled, limit=settled + 10)
    all_calls: list[str] = []
    _count_lower_calls(monkeypatch, net.a, all_calls)
    _count_lower_calls(monkeypatch, net.b, all_calls)
    calls: list[str] = []  # those made while the core handled an input
    receive = PeerConnectionCore.receive_datagrams

    def counted_receive(core: PeerConnectionCore, *args: Any, **kwargs: Any) -> None:
        before = len(all_calls)
        receive(core, *args, **kwargs)
        calls.extend(all_calls[before:])

    monkeypatch.setattr(PeerConnectionCore, "receive_datagrams", counted_receive)
    agents = [core.agent for core in (net.a, net.b)]
    assert all(agent is not None for agent in agents)
    sent = [agent.stats["consent_requests_sent"] for agent in agents if agent is not None]
    end = net.now + 20.0  # consent rounds only: the first SCTP heartbeat is due at ~30 s
    net.run(lambda: net.now >= end, limit=end + 10)
    after = [agent.stats["consent_requests_sent"] for agent in agents if agent is not None]
    assert all(n - m >= 3 for m, n in zip(sent, after, strict=True))
    assert all(agent is not None and agent.stats["consent_missed"] == 0 for agent in agents)
    assert calls == []  # the inputs
    assert all_calls == []  # and the timer wake-ups


def test_heartbeats_still_leave_while_consent_runs() -> None:
    """RFC 9260 §8.3: the SCTP heartbeats (HB.interval 30 s + RTO after the last data)
    still leave and are answered on a connection whose consent rounds skip the lower
    layers: each end receives DTLS records (the peer's HEARTBEATs and the HEARTBEAT
    ACKs for its own) and nothing else happens on the channel."""
    _a, _b, net = pair(22)
    _open_channel(net)
    records = [core.counters["dtls_records_received"] for core in (net.a, net.b)]
    start = net.now
    net.run(lambda: net.now >= start + 100.0, limit=start + 110)
    after = [core.counters["dtls_records_received"] for core in (net.a, net.b)]
    # per end: >= 2 HEARTBEATs of the peer and >= 2 ACKs of its own in 100 s
    assert all(n - m >= 4 for m, n in zip(records, after, strict=True))
    assert all(core.sctp.association.is_established for core in (net.a, net.b))
    assert net.a.connection_state == "connected" and net.b.connection_state == "connected"


@pytest.mark.parametrize("action", ["send", "close", "create"])
def test_a_channel_call_between_consent_rounds_is_acted_on_at_once(action: str) -> None:
    """An API call on a data channel while the core keeps SCTP's deadline (an idle
    connection between consent rounds) makes get_timer() return "now" (the contract's
    pending-output rule), and what it queued reaches the peer within a round trip."""
    _a, _b, net = pair(23)
    _open_channel(net)
    end = net.now + 7.0  # at least one consent round: the core holds SCTP's deadline
    net.run(lambda: net.now >= end, limit=end + 10)
    a = net.a
    a.get_timer()  # what a driver reads after every drain
    assert a._quiet_below(net.now)  # the state this test is about
    (channel,) = a.sctp.channels
    got: list[object] = []
    net.handlers.append(lambda name, _pc, ev: name == "b" and got.append(ev))
    if action == "send":
        channel.send(b"between rounds")
    elif action == "close":
        channel.close()
    else:
        a.create_data_channel("late")
    timer = a.get_timer()
    assert timer is not None and timer <= net.now
    start = net.now
    net.run(lambda: bool(got), limit=start + 1)
    assert net.now - start < 0.01  # one-way delay 1 ms: not the next consent round
    if action == "send":
        assert any(isinstance(ev, ChannelMessage) for ev in got)


def test_bufferedamountlow_comes_with_the_sack_that_empties_the_buffer() -> None:
    """The SACK that acknowledges the last byte queued (nothing left to send) lowers the
    buffered amount through the threshold. SCTP used to queue BufferedAmountLow only when
    the pump asked it for packets, in a pass that sent nothing and handled no other
    event, so the pump ended with the event unread and SCTP's deadline (the heartbeat)
    still ahead. It must reach the application with this input's drain, not at the next
    wake-up that happens to read SCTP's events: a consent check 4-6 s later, or with the
    timer shortcut the heartbeat 30 s later (issue 15, docs/peerconnection.md)."""
    _a, _b, net = pair(25)
    _open_channel(net)
    end = net.now + 7.0  # past a consent round: the core keeps SCTP's deadline
    net.run(lambda: net.now >= end, limit=end + 10)
    a = net.a
    (channel,) = a.sctp.channels
    size = 1_000
    channel.buffered_amount_low_threshold = size // 4
    low: list[float] = []
    net.handlers.append(
        lambda name, _pc, ev: (
            name == "a" and isinstance(ev, ChannelBufferedAmountLow) and low.append(net.now)
        )
    )
    start = net.now
    channel.send(bytes(size))
    net.run(lambda: bool(low), limit=start + 40)
    assert channel.buffered_amount <= size // 4
    # one-way delay 1 ms, the receiver's delayed SACK at most 200 ms (RFC 9260 §6.2)
    assert low[0] - start < 0.25


def test_a_sender_paced_by_bufferedamountlow_never_waits_for_consent() -> None:
    """What ``pyrtcstack send`` does (cli/send.py), with the default threshold 0 (W3C):
    queue up to a window, wait for bufferedamountlow, queue again. The SACK that makes
    the event is then each window's last and leaves nothing to send (with a quarter of
    the window as threshold this happens when a batch of SACKs acknowledges the rest at
    once, as Chromium's did). The event must wake the sender at once: 1 MiB in about a
    round trip and a delayed SACK per window, not a consent interval (4-6 s) or, with
    the timer shortcut, a heartbeat interval (30 s) per window (issue 15: 3 MB to
    Chromium took 14-59 s)."""
    _a, _b, net = pair(26)
    _open_channel(net)
    end = net.now + 7.0  # past a consent round: the core keeps SCTP's deadline
    net.run(lambda: net.now >= end, limit=end + 10)
    (channel,) = net.a.sctp.channels
    window, chunk, total = 64 * 1024, 16 * 1024, 1024 * 1024
    assert channel.buffered_amount_low_threshold == 0
    queued = [0]
    got = [0]

    def fill() -> None:
        while queued[0] < total and channel.buffered_amount <= window:
            channel.send(bytes(chunk))
            queued[0] += chunk

    def on_event(name: str, _pc: PeerConnectionCore, ev: Event) -> None:
        if name == "a" and isinstance(ev, ChannelBufferedAmountLow):
            fill()
        elif name == "b" and isinstance(ev, ChannelMessage):
            got[0] += len(ev.data)

    net.handlers.append(on_event)
    start = net.now
    fill()
    net.run(lambda: got[0] == total, limit=start + 600)
    assert net.now - start < 4.0


def test_an_event_sctp_queues_while_asked_for_packets_is_read_in_the_same_drain() -> None:
    """``packets_to_send`` may queue an event and send nothing: closing a channel towards
    a peer without stream reconfiguration (RFC 6525) fails the reset at once
    (StreamResetFailed, then the channel closes). The pump reads it in the same drain
    (``Association.has_events``), not at the next wake-up that reads SCTP's events."""
    _a, _b, net = pair(27)
    _open_channel(net)
    end = net.now + 7.0  # past a consent round: the core keeps SCTP's deadline
    net.run(lambda: net.now >= end, limit=end + 10)
    a = net.a
    (channel,) = a.sctp.channels
    a.sctp.association.stream_reset.peer_supported = False  # as if the INIT said so
    closed: list[float] = []
    net.handlers.append(
        lambda name, _pc, ev: (
            name == "a" and isinstance(ev, ChannelClosed) and closed.append(net.now)
        )
    )
    start = net.now
    channel.close()
    net.run(lambda: bool(closed), limit=start + 60)
    assert closed[0] - start < 0.01


def test_the_dtls13_engine_keeps_no_instance_dict() -> None:
    _a, _b, net = pair(24)
    _open_channel(net)
    for core in (net.a, net.b):
        assert isinstance(core.dtls.engine, Dtls13Engine)
        assert not hasattr(core.dtls.engine, "__dict__")


def test_a_finished_dtls13_handshake_drops_the_keys_it_no_longer_needs() -> None:
    """RFC 9147 §6.1: epoch 2 protects the handshake only. Once its final flight is
    acknowledged the client drops both directions' epoch-2 keys; the server drops its
    own at the client's Finished, and the client's too, keeping the secret they come
    from, to derive them again for a Finished resent after a lost ACK
    (tests/test_dtls13_connection.py covers that loss); of the key schedule only the
    secrets still needed stay."""
    _a, _b, net = pair(25)
    _open_channel(net)
    settled = net.now + 3.0
    net.run(lambda: net.now >= settled, limit=settled + 10)
    for core in (net.a, net.b):
        engine = core.dtls.engine
        assert isinstance(engine, Dtls13Engine)
        assert 2 not in engine._write_keys and 3 in engine._write_keys
        assert 2 not in engine._read_keys and 3 in engine._read_keys
        assert engine._read2_dormant is not core.is_dtls_client
        schedule = engine.handshake._schedule
        assert schedule is not None
        assert not schedule.handshake_secret and not schedule.master_secret
        assert not schedule.early_secret and not schedule.server_handshake_secret
        assert bool(schedule.client_handshake_secret) is not core.is_dtls_client
        assert schedule.exporter_master_secret and schedule.client_application_secret
