#!/usr/bin/python3
"""GStreamer webrtcbin as the remote side of pyrtcstack's interop harness.

    /usr/bin/python3 gst_peer.py http://127.0.0.1:PORT/

Run with the *system* Python (Debian ``python3-gi``, ``gir1.2-gst-plugins-bad-1.0``,
``gir1.2-nice-0.1``): the project's virtual environment has no ``gi``. This file imports
nothing from pyrtcstack; it is the Python twin of ``assets/peer.js`` (the browsers' and
werift's side) and speaks the same HTTP protocol (docs/interop.md): ``GET /config``, then
for each scenario a fresh pipeline with one ``webrtcbin`` that offers or answers, trickles
or not, echoes every data channel message on its channel (string as string, binary as
binary), closes a channel on ``__close__``, and reports its stats.

webrtcbin (GStreamer 1.22) uses libnice for ICE, OpenSSL for DTLS and usrsctp for SCTP.
What this program has to do for it on loopback:

* libnice leaves out loopback addresses when it lists the local ones: 127.0.0.1 is added
  to the NiceAgent by hand (``Nice.Agent.add_local_address``), ICE-TCP is switched off.
* webrtcbin has no ``restartIce()`` in 1.22: the harness runs no restart with it.
* Its stats have no DTLS cipher; the selected pair comes from its ``candidate-pair``
  entry.

Audio is PCMU both ways: ``audiotestsrc`` (440 Hz) → ``mulawenc`` → ``rtppcmupay`` into
webrtcbin, and what arrives goes through ``rtppcmudepay`` → ``mulawdec``, where its
packets and audio energy are counted (the ``inbound`` stats entry the harness reads).
"""

from __future__ import annotations

import array
import faulthandler
import json
import os
import queue
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urljoin

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC, Nice  # noqa: E402

#: The whole run ends after this many seconds, whatever happens.
OVERALL_TIMEOUT = 600.0
#: Seconds one HTTP request to the harness may take (its long poll waits up to 5 s).
REQUEST_TIMEOUT = 15.0

T0 = time.monotonic()
faulthandler.enable()  # a crash in GStreamer's threads shows up in the peer's log


def log(text: str) -> None:
    print(f"{(time.monotonic() - T0) * 1000:.0f}ms {text}", file=sys.stderr, flush=True)


class Harness:
    """The harness's HTTP side: ``GET`` JSON, ``POST /msg`` in order from one thread."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.outbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.poster = threading.Thread(target=self._post_loop, daemon=True)
        self.poster.start()

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(urljoin(self.base, path), timeout=REQUEST_TIMEOUT) as r:
            return json.loads(r.read())

    def post(self, message: dict[str, Any]) -> None:
        """Queue a message: they leave one at a time, in order (like peer.js's awaits)."""
        self.outbox.put(message)

    def flush(self) -> None:
        done = threading.Event()
        self.outbox.put({"__flush__": done})
        done.wait(REQUEST_TIMEOUT * 2)

    def _post_loop(self) -> None:
        while True:
            message = self.outbox.get()
            if message is None:
                return
            flag = message.get("__flush__")
            if flag is not None:
                flag.set()
                continue
            body = json.dumps(message).encode()
            for attempt in range(1, 6):
                request = urllib.request.Request(
                    urljoin(self.base, "msg"),
                    data=body,
                    headers={"Content-Type": "application/json"},
                    method="POST",
                )
                try:
                    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as r:
                        r.read()
                    break
                except (OSError, urllib.error.URLError) as exc:
                    log(f"POST {message.get('kind')} failed (attempt {attempt}): {exc}")
                    time.sleep(0.1 * attempt)


def promise_reply(call: Any) -> Any:
    """Run one webrtcbin action that takes a promise; returns its reply structure."""
    promise = Gst.Promise.new()
    call(promise)
    result = promise.wait()
    if result != Gst.PromiseResult.REPLIED:
        raise RuntimeError(f"webrtcbin promise: {result.value_nick}")
    return promise.get_reply()


def structure_to_dict(structure: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(structure.n_fields()):
        name = structure.nth_field_name(i)
        ok, value = _field(structure, name)
        if ok:
            out[name] = value
    return out


def _field(structure: Any, name: str) -> tuple[bool, Any]:
    try:
        value = structure.get_value(name)
    except TypeError:
        return False, None
    if isinstance(value, Gst.Structure):
        return True, structure_to_dict(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return True, value
    nick = getattr(value, "value_nick", None)
    if nick is not None:
        return True, nick
    return True, str(value)


def sdp_mids(sdp: str) -> list[str | None]:
    """The a=mid of each m-section, in order."""
    mids: list[str | None] = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            mids.append(None)
        elif line.startswith("a=mid:") and mids:
            mids[-1] = line[6:].strip()
    return mids


def _camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(part.title() for part in rest)


#: Bytes a bulk sender lets webrtcbin buffer before it waits (as bench/bench_pc.py).
HIGH_WATER = 1 << 20
#: Most bytes one bench channel may ask for (``bench_channel``).
MAX_BULK_BYTES = 1 << 30
#: Keeps the ICE objects' Python wrappers alive as long as the process (see below).
_KEEP: list[Any] = []


def loopback_webrtcbin(pipeline: Any, name: str) -> tuple[Any, Any, Any]:
    """A webrtcbin in ``pipeline`` that gathers on 127.0.0.1 only (max-bundle, no
    ICE-TCP). Returns it, its ICE object and its NiceAgent."""
    webrtc = Gst.ElementFactory.make("webrtcbin", name)
    pipeline.add(webrtc)
    webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
    # The ICE object is floating when PyGObject first wraps it: the wrapper takes the only
    # reference, so it must never be dropped while webrtcbin lives (it would free the
    # object under webrtcbin). The wrappers are kept for the life of the process.
    ice = webrtc.get_property("ice-agent")
    ice.set_property("ice-tcp", False)
    agent = ice.get_property("agent")
    _KEEP.extend((ice, agent))
    loopback = Nice.Address.new()
    loopback.set_from_string("127.0.0.1")
    agent.add_local_address(loopback)
    return webrtc, ice, agent


def bench_channel(label: str) -> tuple[str, int, int] | None:
    """bench/bench_interop.py's channels, as peer.js and Pion's bench.go serve them:
    ``bench-source:N:SIZE`` (send N bytes in SIZE-byte binary messages) and
    ``bench-sink:N`` (count N bytes, answer ``done N``); None for any other label or
    numbers out of bounds."""
    parts = label.split(":")
    try:
        numbers = [int(x) for x in parts[1:]]
    except ValueError:
        return None
    if parts[0] == "bench-sink" and len(numbers) == 1 and 0 < numbers[0] <= MAX_BULK_BYTES:
        return ("bench-sink", numbers[0], 0)
    if (
        parts[0] == "bench-source"
        and len(numbers) == 2
        and 0 < numbers[1] <= 262144
        and numbers[1] <= numbers[0] <= MAX_BULK_BYTES
    ):
        return ("bench-source", numbers[0], numbers[1])
    return None


def send_bulk(channel: Any, count: int, size: int) -> None:
    """``count`` binary messages of ``size`` bytes, at most HIGH_WATER buffered."""
    payload = GLib.Bytes.new(bytes(size))
    for _ in range(count):
        while channel.props.buffered_amount > HIGH_WATER:
            time.sleep(0.0005)
        channel.send_data(payload)


class Scenario:
    """One scenario: a pipeline with a fresh webrtcbin, driven like peer.js's runScenario."""

    def __init__(self, harness: Harness, config: dict[str, Any], index: int, spec: dict[str, Any]):
        self.h = harness
        self.config = config
        self.index = index
        self.spec = spec
        self.trickle = bool(spec.get("trickle"))
        self.pipeline = Gst.Pipeline.new(f"scenario{index}")
        self.webrtc, self.ice, self.agent = loopback_webrtcbin(self.pipeline, "webrtc")
        self.selected_pair: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.agent.connect("new-selected-pair-full", self._on_selected_pair)
        pc_config = spec.get("pcConfig") or {}
        for server in pc_config.get("iceServers") or []:
            urls = server.get("urls")
            for url in [urls] if isinstance(urls, str) else urls or []:
                self._add_ice_server(url, server.get("username"), server.get("credential"))
        if pc_config.get("iceTransportPolicy") == "relay":
            self.webrtc.set_property(
                "ice-transport-policy", GstWebRTC.WebRTCICETransportPolicy.RELAY
            )
        self.channels: list[Any] = []
        self.echo: queue.Queue[tuple[Any, Any] | None] = queue.Queue()
        #: ``bench-sink`` channels: id → [bytes still expected, bytes asked for].
        self.sinks: dict[int, list[int]] = {}
        self.echo_thread = threading.Thread(target=self._echo_loop, daemon=True)
        self.echo_thread.start()
        self.gathered = threading.Event()
        self.rtp_in = 0
        self.energy = 0.0
        self.mic_added = False
        self.mids: list[str | None] = []
        self.webrtc.connect("on-ice-candidate", self._on_candidate)
        self.webrtc.connect("on-data-channel", lambda _w, ch: self.wire(ch))
        self.webrtc.connect("pad-added", self._on_pad)
        self.webrtc.connect("notify::connection-state", self._on_state)
        self.webrtc.connect("notify::ice-gathering-state", self._on_gathering)
        self.pipeline.set_state(Gst.State.PLAYING)

    def _add_ice_server(self, url: str, user: str | None, password: str | None) -> None:
        if url.startswith("stun:"):
            self.webrtc.set_property("stun-server", "stun://" + url[5:].split("?", maxsplit=1)[0])
        elif url.startswith("turn:"):
            host = url[5:].split("?", maxsplit=1)[0]
            quote = urllib.request.quote  # type: ignore[attr-defined]
            turn = f"turn://{quote(user or '', safe='')}:{quote(password or '', safe='')}@{host}"
            self.webrtc.emit("add-turn-server", turn)

    def send(self, **message: Any) -> None:
        self.h.post({"scenario": self.index, **message})

    # -- webrtcbin callbacks (its own threads) --------------------------------------------

    def _on_candidate(self, _webrtc: Any, mline: int, candidate: str) -> None:
        if not self.trickle or " tcp " in candidate.lower():
            return
        mid = self._mid(mline)
        self.send(
            kind="candidate",
            candidate={"candidate": candidate, "sdpMLineIndex": mline, "sdpMid": mid},
        )

    def _on_gathering(self, *_args: Any) -> None:
        state = self.webrtc.get_property("ice-gathering-state")
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE and not self.gathered.is_set():
            self.gathered.set()
            if self.trickle:
                self.send(kind="candidate", candidate=None)

    def _on_state(self, *_args: Any) -> None:
        state = self.webrtc.get_property("connection-state").value_nick
        log(f"pc {state}")
        self.send(kind="state", state=state)

    def _mid(self, mline: int) -> str | None:
        # From our own copy of the SDP text: reading webrtcbin's local-description
        # property here (its thread, during the callback) crashed in
        # gst_sdp_media_get_attribute_val_n.
        return self.mids[mline] if mline < len(self.mids) else None

    def wire(self, channel: Any) -> None:
        self.channels.append(channel)
        bench = bench_channel(channel.props.label)
        if bench is not None and bench[0] == "bench-sink":
            # Registered before any message can be queued for the echo thread.
            self.sinks[id(channel)] = [bench[1], bench[1]]

        reported: list[bool] = []

        def opened(*_args: Any) -> None:
            if reported:
                return  # on-open after on-data-channel handed over an open channel
            reported.append(True)
            log(f"channel {channel.props.label} (id {channel.props.id}) open")
            self.send(kind="open", label=channel.props.label, id=channel.props.id)
            if bench is not None and bench[0] == "bench-source":
                _, total, size = bench
                args = (channel, total // size, size)
                threading.Thread(target=send_bulk, args=args, daemon=True).start()

        def closed(*_args: Any) -> None:
            log(f"channel {channel.props.label} (id {channel.props.id}) closed")
            self.send(kind="closed", label=channel.props.label, id=channel.props.id)

        channel.connect("on-open", opened)
        channel.connect("on-close", closed)
        channel.connect("on-error", lambda _c, err: log(f"channel error {err}"))
        channel.connect("on-message-string", lambda _c, s: self.echo.put((channel, s or "")))
        channel.connect(
            "on-message-data",
            lambda _c, b: self.echo.put((channel, b.get_data() if b is not None else b"")),
        )
        if channel.props.ready_state == GstWebRTC.WebRTCDataChannelState.OPEN:
            opened()

    def _echo_loop(self) -> None:
        """Echoes leave from one thread, in arrival order (not from usrsctp's callback)."""
        while True:
            item = self.echo.get()
            if item is None:
                return
            channel, data = item
            try:
                sink = self.sinks.get(id(channel))
                if sink is not None and isinstance(data, bytes):
                    self._sink(channel, sink, len(data))
                    continue
                if isinstance(data, str):
                    if data == "__close__":
                        if channel.props.ready_state == GstWebRTC.WebRTCDataChannelState.OPEN:
                            log(f"closing {channel.props.label} as asked")
                            channel.close()
                        continue
                    if data == "__stats__":
                        self.post_stats("channel")
                        continue
                    channel.send_string(data)
                elif data:
                    channel.send_data(GLib.Bytes.new(bytes(data)))
                else:
                    # An empty GBytes fails an assertion: NULL is webrtcbin's "empty".
                    channel.send_data(None)
            except Exception as exc:
                log(f"echo on {channel.props.label} failed: {exc}")
                self.send(kind="echo-error", label=channel.props.label, error=str(exc))

    def _sink(self, channel: Any, sink: list[int], size: int) -> None:
        """bench-sink: count the bytes, answer ``done N`` after the last (as peer.js)."""
        sink[0] -= size
        if sink[0] <= 0:
            del self.sinks[id(channel)]
            channel.send_string(f"done {sink[1] - sink[0]}")

    def _on_pad(self, _webrtc: Any, pad: Any) -> None:
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps() or pad.query_caps(None)
        s = caps.get_structure(0)
        if s.get_string("media") != "audio":
            return
        log(f"incoming audio {s.get_string('encoding-name')}")
        depay = Gst.ElementFactory.make("rtppcmudepay")
        dec = Gst.ElementFactory.make("mulawdec")
        sink = Gst.ElementFactory.make("fakesink")
        sink.set_property("sync", False)
        for element in (depay, dec, sink):
            self.pipeline.add(element)
            element.sync_state_with_parent()
        depay.link(dec)
        dec.link(sink)

        def count(_pad: Any, _info: Any) -> Any:
            self.rtp_in += 1
            return Gst.PadProbeReturn.OK

        def energy(_pad: Any, info: Any) -> Any:
            buf = info.get_buffer()
            ok, mapped = buf.map(Gst.MapFlags.READ)
            if ok:
                samples = array.array("h", bytes(mapped.data))
                buf.unmap(mapped)
                if samples:
                    # W3C totalAudioEnergy: sum of (amplitude / 32768)^2 × duration.
                    power = sum(x * x for x in samples) / (len(samples) * 32768.0 * 32768.0)
                    self.energy += power * len(samples) / 8000.0
            return Gst.PadProbeReturn.OK

        pad.add_probe(Gst.PadProbeType.BUFFER, count)
        dec.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, energy)
        pad.link(depay.get_static_pad("sink"))

    # -- actions (the scenario thread) ----------------------------------------------------

    def add_mic(self, opus: bool = False) -> None:
        """A 440 Hz tone as PCMU (or Opus, RFC 7587) into webrtcbin (on the offered m=audio
        when answering). The Opus caps name ``encoding-params`` 2: without it webrtcbin
        offers ``OPUS/48000`` whenever it builds the offer before opusenc's caps arrive
        (RFC 7587 §7 requires ``opus/48000/2``), and our answer rejects that section."""
        tone = "audiotestsrc is-live=true wave=sine freq=440 volume=0.3 ! audioconvert ! "
        if opus:
            encode = (
                "audioresample ! audio/x-raw,rate=48000,channels=2 ! opusenc ! "
                'rtpopuspay pt=111 ! capsfilter caps="application/x-rtp,media=audio,'
                'encoding-name=OPUS,payload=111,clock-rate=48000,encoding-params=(string)2"'
            )
        else:
            encode = (
                "audioresample ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! "
                'rtppcmupay pt=0 ! capsfilter caps="application/x-rtp,media=audio,'
                'encoding-name=PCMU,payload=0,clock-rate=8000"'
            )
        chain = Gst.parse_bin_from_description(tone + encode, True)
        self.pipeline.add(chain)
        name = "sink_%u"
        for t in self.transceivers():
            if t.props.kind == GstWebRTC.WebRTCKind.AUDIO and t.props.mlineindex != 0xFFFFFFFF:
                t.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDRECV)
                name = f"sink_{t.props.mlineindex}"
        pad = self.webrtc.request_pad_simple(name)
        chain.get_static_pad("src").link(pad)
        chain.sync_state_with_parent()
        self.mic_added = True

    def transceivers(self) -> list[Any]:
        # "get-transceivers" returns a GArray that PyGObject cannot iterate: one by one.
        out: list[Any] = []
        while (t := self.webrtc.emit("get-transceiver", len(out))) is not None:
            out.append(t)
        return out

    def create_channel(self, spec: dict[str, Any]) -> None:
        options = spec.get("options") or {}
        init = Gst.Structure.new_empty("application/data-channel")
        names = {
            "ordered": ("ordered", bool),
            "maxRetransmits": ("max-retransmits", int),
            "maxPacketLifeTime": ("max-packet-lifetime", int),
            "negotiated": ("negotiated", bool),
            "id": ("id", int),
            "protocol": ("protocol", str),
        }
        for key, value in options.items():
            if key in names and value is not None:
                name, kind = names[key]
                init.set_value(name, kind(value))
        channel = self.webrtc.emit("create-data-channel", spec["label"], init)
        if channel is None:
            raise RuntimeError(f"create-data-channel {spec['label']!r} failed")
        self.wire(channel)

    def describe(self) -> None:
        if not self.trickle:
            self.gathered.wait(10.0)
        desc = self.webrtc.get_property("local-description")
        kind = "offer" if desc.type == GstWebRTC.WebRTCSDPType.OFFER else "answer"
        self.send(kind="description", description={"type": kind, "sdp": desc.sdp.as_text()})

    def set_local(self, kind: str) -> None:
        reply = promise_reply(lambda p: self.webrtc.emit(f"create-{kind}", None, p))
        desc = reply.get_value(kind)
        if desc is None:
            raise RuntimeError(f"create-{kind} failed: {reply.to_string()}")
        self.mids = sdp_mids(desc.sdp.as_text())
        promise_reply(lambda p: self.webrtc.emit("set-local-description", desc, p))

    def set_remote(self, description: dict[str, Any]) -> None:
        ok, sdp = GstSdp.SDPMessage.new_from_text(description["sdp"])
        if ok != GstSdp.SDPResult.OK:
            raise RuntimeError("our SDP does not parse in GStreamer")
        kind = (
            GstWebRTC.WebRTCSDPType.OFFER
            if description["type"] == "offer"
            else GstWebRTC.WebRTCSDPType.ANSWER
        )
        desc = GstWebRTC.WebRTCSessionDescription.new(kind, sdp)
        reply = promise_reply(lambda p: self.webrtc.emit("set-remote-description", desc, p))
        if reply is not None and reply.has_field("error"):
            raise RuntimeError(f"set-remote-description: {reply.get_value('error')}")

    def add_candidate(self, candidate: dict[str, Any] | None) -> None:
        if not candidate or not candidate.get("candidate"):
            return  # end of candidates: webrtcbin 1.22 needs no signal
        mline = candidate.get("sdpMLineIndex")
        if mline is None:
            mline = 0  # max-bundle: everything on the first transport
        self.webrtc.emit("add-ice-candidate", int(mline), candidate["candidate"])

    def stats(self) -> dict[str, Any]:
        reply = promise_reply(lambda p: self.webrtc.emit("get-stats", None, p))
        entries = [v for v in structure_to_dict(reply).values() if isinstance(v, dict)]
        by_id = {e.get("id"): e for e in entries}
        out: dict[str, Any] = {
            "transport": None,
            "pair": None,
            "local": None,
            "remote": None,
            "inbound": [],
            "outbound": [],
            "codecs": [],
        }
        for e in entries:
            if e.get("type") == "candidate-pair":
                out["pair"] = e
                local = by_id.get(e.get("local-candidate-id")) or {}
                remote = by_id.get(e.get("remote-candidate-id")) or {}
                out["local"] = {_camel(k): v for k, v in local.items()}
                out["remote"] = {_camel(k): v for k, v in remote.items()}
        if out["local"] is None:
            # webrtcbin 1.22 reports ICE stats only per RTP stream: a data-channel-only
            # session has none. Ask its NiceAgent for the selected pair instead.
            out["local"], out["remote"] = self._nice_selected_pair()
        if self.rtp_in or self.mic_added:
            out["inbound"].append(
                {
                    "kind": "audio",
                    "packetsReceived": self.rtp_in,
                    "codecId": "gst-pcmu",
                    "totalAudioEnergy": self.energy,
                }
            )
            out["codecs"].append({"id": "gst-pcmu", "mimeType": "audio/PCMU"})
        return out

    def _nice_selected_pair(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return self.selected_pair or (None, None)

    def _on_selected_pair(self, _agent: Any, _stream: int, component: int, local: Any,
                          remote: Any) -> None:  # fmt: skip
        """libnice's new-selected-pair-full (its GIR has no usable get_selected_pair)."""
        if component != 1:
            return
        types = {
            Nice.CandidateType.HOST: "host",
            Nice.CandidateType.SERVER_REFLEXIVE: "srflx",
            Nice.CandidateType.PEER_REFLEXIVE: "prflx",
            Nice.CandidateType.RELAYED: "relay",
        }
        self.selected_pair = (
            {"port": local.addr.get_port(), "candidateType": types.get(local.type)},
            {"port": remote.addr.get_port(), "candidateType": types.get(remote.type)},
        )
        log(f"selected pair {self.selected_pair}")

    def max_message_size(self) -> int | None:
        sctp = self.webrtc.get_property("sctp-transport")
        if sctp is None:
            return None
        return int(sctp.get_property("max-message-size"))

    def post_stats(self, why: str) -> None:
        try:
            stats = self.stats()
        except Exception as exc:
            log(f"stats failed: {exc}")
            stats = {}
        self.send(kind="stats", why=why, stats=stats, maxMessageSize=self.max_message_size())

    def run(self) -> None:
        spec = self.spec
        log(f"scenario {self.index} {spec.get('name')} role={spec.get('role')} "
            f"trickle={self.trickle}")  # fmt: skip
        for channel in spec.get("peerChannels") or []:
            self.create_channel(channel)
        if spec.get("role") == "peer-offers":
            if spec.get("audio") or spec.get("opus"):
                self.add_mic(opus=bool(spec.get("opus")))
            self.set_local("offer")
            self.describe()
        after = 0
        deadline = time.monotonic() + (spec.get("timeoutMs") or 30000) / 1000
        closed = False
        while not closed and time.monotonic() < deadline:
            messages = self.h.get(f"poll?scenario={self.index}&after={after}")["messages"]
            for m in messages:
                after = m["seq"]
                kind = m.get("kind")
                if kind == "description":
                    description = m["description"]
                    if description["type"] == "offer" and spec.get("audio"):
                        self.set_remote(description)
                        if not self.mic_added:
                            self.add_mic()
                    else:
                        self.set_remote(description)
                    if description["type"] == "offer":
                        self.set_local("answer")
                        self.describe()
                    else:
                        self.send(kind="applied", type=description["type"])
                elif kind == "candidate":
                    try:
                        self.add_candidate(m.get("candidate"))
                    except Exception as exc:
                        log(f"add-ice-candidate failed: {exc}")
                elif kind == "channel":
                    self.create_channel(m["spec"])
                elif kind == "restart":
                    self.send(kind="error", error="webrtcbin 1.22 has no ICE restart")
                elif kind == "stats":
                    self.post_stats("asked")
                elif kind == "end":
                    closed = True

    def close(self) -> None:
        self.echo.put(None)
        self.pipeline.set_state(Gst.State.NULL)


def _wait(predicate: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(0.005)


def self_bench(count: int, size: int) -> dict[str, float]:
    """GStreamer → GStreamer in one process (two webrtcbins, non-trickle on loopback):
    ``count`` messages of ``size`` bytes; seconds from the first send to the last byte
    received, and this process's CPU seconds over the same span."""
    pipeline = Gst.Pipeline.new("self-bench")
    a, _ice_a, _agent_a = loopback_webrtcbin(pipeline, "a")
    b, _ice_b, _agent_b = loopback_webrtcbin(pipeline, "b")
    pipeline.set_state(Gst.State.PLAYING)
    got = [0, 0.0]
    done = threading.Event()
    total = count * size

    def on_data(_channel: Any, data: Any) -> None:
        if got[0] == 0:
            got[1] = time.monotonic()
        got[0] += data.get_size() if data is not None else 0
        if got[0] >= total:
            done.set()

    b.connect("on-data-channel", lambda _w, ch: ch.connect("on-message-data", on_data))
    channel = a.emit("create-data-channel", "bench", None)

    def complete(w: Any) -> bool:
        state = w.get_property("ice-gathering-state")
        return bool(state == GstWebRTC.WebRTCICEGatheringState.COMPLETE)

    def exchange(src: Any, dst: Any, kind: str) -> None:
        reply = promise_reply(lambda p: src.emit(f"create-{kind}", None, p))
        desc = reply.get_value(kind)
        promise_reply(lambda p: src.emit("set-local-description", desc, p))
        _wait(lambda: complete(src), 10)
        text = src.get_property("local-description").sdp.as_text()
        _ok, sdp = GstSdp.SDPMessage.new_from_text(text)
        sdp_type = (
            GstWebRTC.WebRTCSDPType.OFFER if kind == "offer" else GstWebRTC.WebRTCSDPType.ANSWER
        )
        remote = GstWebRTC.WebRTCSessionDescription.new(sdp_type, sdp)
        promise_reply(lambda p: dst.emit("set-remote-description", remote, p))

    exchange(a, b, "offer")
    exchange(b, a, "answer")
    _wait(lambda: channel.props.ready_state == GstWebRTC.WebRTCDataChannelState.OPEN, 10)
    t0, c0 = time.monotonic(), time.process_time()
    send_bulk(channel, count, size)
    if not done.wait(300):
        raise TimeoutError(f"received {got[0]} of {total} bytes")
    seconds, cpu = time.monotonic() - t0, time.process_time() - c0
    pipeline.set_state(Gst.State.NULL)
    return {"seconds": seconds, "cpu": cpu, "bytes": float(total)}


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[1] == "--self-bench":
        Gst.init(None)
        print(json.dumps(self_bench(int(argv[2]), int(argv[3]))), flush=True)
        os._exit(0)  # no teardown of GStreamer's threads: the numbers are out
    if len(argv) != 2 or not argv[1].startswith("http"):
        print("usage: /usr/bin/python3 gst_peer.py http://127.0.0.1:PORT/", file=sys.stderr)
        return 2
    Gst.init(None)
    if Gst.ElementFactory.find("webrtcbin") is None:
        print("webrtcbin not found (Debian gstreamer1.0-plugins-bad)", file=sys.stderr)
        return 2
    timer = threading.Timer(OVERALL_TIMEOUT, lambda: os._exit(3))
    timer.daemon = True
    timer.start()
    loop = GLib.MainLoop()
    threading.Thread(target=loop.run, daemon=True).start()
    harness = Harness(argv[1])
    config = harness.get("config")
    for index, spec in enumerate(config["scenarios"]):
        scenario: Scenario | None = None
        try:
            scenario = Scenario(harness, config, index, spec)
            scenario.run()
        except Exception as exc:
            log(f"scenario {index} error {traceback.format_exc()}")
            harness.post({"scenario": index, "kind": "error", "error": str(exc)})
        harness.post({"scenario": index, "kind": "ended"})
        if scenario is not None:
            scenario.close()
    harness.post({"scenario": -1, "kind": "done"})
    harness.flush()
    loop.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
