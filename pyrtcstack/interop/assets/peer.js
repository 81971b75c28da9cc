// The remote side of pyrtcstack's interop harness: one script for browsers (page.html) and
// for werift (werift_peer.mjs), each giving an adapter `A` for its own event API.
//
// The peer is deliberately simple; the Python side decides and checks everything. For each
// scenario in GET /config the peer:
//   * makes an RTCPeerConnection (fresh per scenario);
//   * offers (role "peer-offers") or answers our offer ("we-offer"); candidates are sent
//     one by one as they come (trickle) or only inside the description (non-trickle);
//   * echoes every data channel message back on the same channel, string as string and
//     binary as binary; "__close__" makes it close that channel; "__stats__" makes it post
//     its getStats summary;
//   * on channels labelled "bench-source:N:SIZE" / "bench-sink:N" sends / counts bytes
//     instead (bench/bench_interop.py, below); a scenario with "selfBench" runs this
//     stack → itself in this process instead of talking to us;
//   * obeys commands from GET /poll: description, candidate, channel (create one), restart,
//     stats, end; after applying our answer it posts "applied".
// Protocol (JSON over HTTP, see docs/interop.md): POST /msg {scenario, kind, ...}.

export async function runPeer(base, A) {
  const T0 = Date.now();
  const logs = [];
  const L = (m) => {
    const s = `${Date.now() - T0}ms ${m}`;
    logs.push(s);
    if (A.print) A.print(s);
  };
  const post = async (obj) => {
    const r = await fetch(new URL("msg", base), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(obj),
    });
    if (!r.ok) throw new Error(`POST /msg -> HTTP ${r.status}`);
  };
  const cfg = await (await fetch(new URL("config", base))).json();
  if (A.beforeFirstPc) await A.beforeFirstPc(cfg);
  for (let i = 0; i < cfg.scenarios.length; i++) {
    const sc = cfg.scenarios[i];
    try {
      await runScenario(i, sc);
    } catch (e) {
      L(`scenario ${i} error ${e && e.stack ? e.stack : e}`);
      await post({ scenario: i, kind: "error", error: String(e), log: logs.splice(0) }).catch(() => {});
    }
  }
  await post({ scenario: -1, kind: "done", log: logs.splice(0) }).catch(() => {});

  async function runScenario(i, sc) {
    L(`scenario ${i} ${sc.name} role=${sc.role} trickle=${sc.trickle}`);
    if (sc.selfBench) return selfBench(i, sc);
    const pc = A.newPC(cfg, sc);
    const channels = [];
    let closed = false;
    const send = (obj) => post({ scenario: i, ...obj });
    A.onCandidate(pc, (c) => {
      if (sc.trickle) send({ kind: "candidate", candidate: c }).catch(() => {});
    });
    A.onConnState(pc, (s) => {
      L(`pc ${s}`);
      send({ kind: "state", state: s }).catch(() => {});
    });
    // A report that must arrive: a failed POST is logged and retried (a lost "closed"
    // would look like a peer that never closed its channel).
    const report = async (obj) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await send(obj);
        } catch (e) {
          L(`POST ${obj.kind} ${obj.label || ""} failed (attempt ${attempt}): ${e}`);
          if (attempt >= 5) return;
          await new Promise((r) => setTimeout(r, 100 * attempt));
        }
      }
    };
    const wire = (dc) => {
      channels.push(dc);
      A.setBinary(dc);
      if (dc.label.startsWith("bench-")) return benchChannel(A, dc, L);
      A.onOpen(dc, () => {
        L(`channel ${dc.label} (id ${dc.id}) open`);
        report({ kind: "open", label: dc.label, id: dc.id });
      });
      if (A.onClosing) A.onClosing(dc, () => L(`channel ${dc.label} (id ${dc.id}) closing`));
      A.onClose(dc, () => {
        L(`channel ${dc.label} (id ${dc.id}) closed`);
        report({ kind: "closed", label: dc.label, id: dc.id });
      });
      A.onMessage(dc, (data) => {
        if (typeof data === "string") {
          if (data === "__close__") {
            if (dc.readyState === "open") L(`closing ${dc.label} (id ${dc.id}) as asked`);
            return dc.close();
          }
          if (data === "__stats__") return statsNow("channel");
        }
        try {
          dc.send(data);
        } catch (e) {
          L(`echo on ${dc.label} failed: ${e}`);
          send({ kind: "echo-error", label: dc.label, error: String(e) }).catch(() => {});
        }
      });
    };
    A.onDataChannel(pc, wire);
    const statsNow = async (why) => {
      const stats = await A.stats(pc);
      await send({ kind: "stats", why, stats, maxMessageSize: A.maxMessageSize(pc) });
    };
    const describe = async () => {
      if (!sc.trickle) await A.gathered(pc);
      const d = pc.localDescription;
      await send({ kind: "description", description: { type: d.type, sdp: d.sdp } });
    };
    const makeChannel = (spec) => wire(A.createDataChannel(pc, spec.label, spec.options || {}));

    for (const spec of sc.peerChannels || []) makeChannel(spec);
    if (sc.audio) {
      // The fake microphone goes to us; what we send is played (audio energy in getStats).
      if (A.onTrack) A.onTrack(pc);
      if (sc.role === "peer-offers") await A.addMic(pc);
    }
    if (sc.role === "peer-offers") {
      await pc.setLocalDescription(await pc.createOffer());
      await describe();
    }
    let after = 0;
    const deadline = Date.now() + (sc.timeoutMs || 30000);
    while (!closed && Date.now() < deadline) {
      const r = await fetch(new URL(`poll?scenario=${i}&after=${after}`, base));
      const { messages } = await r.json();
      for (const m of messages) {
        after = m.seq;
        if (m.kind === "description") {
          await pc.setRemoteDescription(m.description);
          if (m.description.type === "offer" && sc.audio && !pc._micAdded) await A.addMic(pc);
          if (m.description.type === "offer") {
            await pc.setLocalDescription(await pc.createAnswer());
            await describe();
          } else {
            // Our answer is in force: a renegotiation is over at the peer too. (Chromium
            // 156 re-registers every SCTP stream while it applies a description, which
            // loses a stream reset in flight: docs/interop.md.)
            report({ kind: "applied", type: m.description.type });
          }
        } else if (m.kind === "candidate") {
          try {
            await pc.addIceCandidate(m.candidate);
          } catch (e) {
            L(`addIceCandidate failed: ${e}`);
          }
        } else if (m.kind === "channel") {
          makeChannel(m.spec);
        } else if (m.kind === "restart") {
          await A.restart(pc);
          await pc.setLocalDescription(await A.offer(pc, true));
          await describe();
        } else if (m.kind === "stats") {
          await statsNow("asked");
        } else if (m.kind === "end") {
          closed = true;
        }
      }
    }
    await send({ kind: "ended", log: logs.splice(0) }).catch(() => {});
    try {
      await pc.close();
    } catch (e) {}
  }

  // The peer → itself anchor of bench/bench_interop.py: two peer connections of this stack
  // in this process (page), one channel, sc.selfBench.bytes in sc.selfBench.size-byte
  // messages. Posts "self-bench-ready" just before the first message (the harness reads
  // the process's CPU then) and "self-bench" {bytes, seconds} when the last byte arrived.
  async function selfBench(i, sc) {
    const { bytes, size } = sc.selfBench;
    const a = A.newPC(cfg, sc);
    const b = A.newPC(cfg, sc);
    let got = 0;
    try {
      // A connection that fails ends the run (werift's does under load: docs/interop.md).
      const failed = new Promise((_, rej) => {
        for (const [name, pc] of [["sender", a], ["receiver", b]]) {
          A.onConnState(pc, (s) => {
            L(`self-bench ${name} pc ${s}`);
            if (s === "failed" || s === "closed") rej(new Error(`the ${name}'s connection ${s}`));
          });
        }
      });
      failed.catch(() => {});
      const channel = A.createDataChannel(a, "bench", {});
      A.setBinary(channel);
      const opened = new Promise((res) => A.onOpen(channel, res));
      let t0 = 0;
      const arrived = new Promise((res) => {
        A.onDataChannel(b, (dc) => {
          A.setBinary(dc);
          A.onMessage(dc, (data) => {
            got += messageLength(data);
            if (got >= bytes) res(Date.now());
          });
        });
      });
      await a.setLocalDescription(await a.createOffer());
      await A.gathered(a);
      await b.setRemoteDescription({ type: "offer", sdp: a.localDescription.sdp });
      await b.setLocalDescription(await b.createAnswer());
      await A.gathered(b);
      await a.setRemoteDescription({ type: "answer", sdp: b.localDescription.sdp });
      await withTimeout(opened, 30000, "the self-bench channel did not open");
      await post({ scenario: i, kind: "self-bench-ready" });
      t0 = Date.now();
      const sending = sendAll(A, channel, bytes, size);
      sending.catch(() => {}); // a failed connection ends it too
      await Promise.race([sending, failed]);
      const all = Promise.race([arrived, failed]);
      const t1 = await withTimeout(all, 300000, "the self-bench bytes did not all arrive");
      await post({ scenario: i, kind: "self-bench", bytes: got, seconds: (t1 - t0) / 1000 });
    } catch (e) {
      L(`self-bench: ${e}`);
      await post({ scenario: i, kind: "error", error: `${e} after ${got} of ${bytes} bytes` }).catch(() => {});
    } finally {
      for (const pc of [a, b]) {
        try {
          await pc.close();
        } catch (e) {}
      }
      await post({ scenario: i, kind: "ended", log: logs.splice(0) }).catch(() => {});
    }
  }
}

// Throughput channels (bench/bench_interop.py; the same protocol as the Pion peer's
// bench.go). On "bench-sink:N" the peer reads until N bytes arrived, then answers
// "done N"; on "bench-source:N:SIZE" it sends N bytes in SIZE-byte binary messages as fast
// as its flow control allows (at most BENCH_HIGH_WATER bytes buffered, as bench_pc.py's
// senders). Neither echoes.
const BENCH_HIGH_WATER = 1 << 20;
const BENCH_LOW_WATER = 1 << 18;
const BENCH_MAX = 2 ** 32;

function messageLength(data) {
  if (typeof data === "string") return data.length;
  return data.byteLength !== undefined ? data.byteLength : data.length;
}

function withTimeout(promise, ms, what) {
  let timer;
  const limit = new Promise((_, rej) => {
    timer = setTimeout(() => rej(new Error(what)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

async function sendAll(A, dc, total, size) {
  dc.bufferedAmountLowThreshold = BENCH_LOW_WATER;
  let wake = null;
  A.onBufferedLow(dc, () => {
    if (wake) wake();
  });
  const payload = A.payload(size);
  let n = 0;
  for (let sent = 0; sent < total; sent += size) {
    // A stack whose send() does its SCTP work at once (werift) lets its I/O run between
    // runs of sends, or it answers nothing (consent) while it fills the buffer.
    if (A.yieldToIo && ++n % A.yieldToIo.every === 0) await A.yieldToIo();
    while (dc.bufferedAmount > BENCH_HIGH_WATER) {
      if (dc.readyState !== "open") throw new Error(`the channel is ${dc.readyState}`);
      // The event, or a 100 ms poll should an event be missed (as bench.go).
      await new Promise((res) => {
        wake = res;
        setTimeout(res, 100);
      });
      wake = null;
    }
    dc.send(payload);
  }
}

function benchChannel(A, dc, L) {
  const parts = dc.label.split(":");
  const total = Number(parts[1]);
  const size = Number(parts[2]);
  if (parts[0] === "bench-source" && parts.length === 3 && Number.isInteger(total) &&
      Number.isInteger(size) && total >= 0 && total <= BENCH_MAX && size > 0 && size <= 1 << 20) {
    A.onOpen(dc, () => {
      sendAll(A, dc, total, size).catch((e) => L(`bench source: ${e}`));
    });
    return;
  }
  if (parts[0] !== "bench-sink" || parts.length !== 2 || !Number.isInteger(total) ||
      total < 0 || total > BENCH_MAX) {
    L(`bad bench channel label ${JSON.stringify(dc.label)}`);
    return;
  }
  let got = 0;
  let answered = false;
  A.onMessage(dc, (data) => {
    got += messageLength(data);
    if (got >= total && !answered) {
      answered = true;
      dc.send(`done ${got}`);
    }
  });
}

// A JSON-friendly summary of a standard getStats() report: the transport, its selected
// candidate pair and both candidates, inbound/outbound RTP and codecs.
export function summarizeStats(entries) {
  const byId = new Map(entries.map((s) => [s.id, s]));
  const out = { transport: null, pair: null, local: null, remote: null, inbound: [], outbound: [], codecs: [] };
  for (const s of entries) {
    if (s.type === "transport") out.transport = s;
    else if (s.type === "inbound-rtp") out.inbound.push(s);
    else if (s.type === "outbound-rtp") out.outbound.push(s);
    else if (s.type === "codec") out.codecs.push(s);
  }
  let pair = null;
  if (out.transport && out.transport.selectedCandidatePairId) pair = byId.get(out.transport.selectedCandidatePairId);
  if (!pair) {
    // Firefox has no selectedCandidatePairId: take the selected/nominated succeeded pair.
    for (const s of entries) {
      if (s.type === "candidate-pair" && (s.selected || (s.nominated && s.state === "succeeded"))) pair = s;
    }
  }
  if (pair) {
    out.pair = pair;
    out.local = byId.get(pair.localCandidateId) || null;
    out.remote = byId.get(pair.remoteCandidateId) || null;
  }
  return out;
}
