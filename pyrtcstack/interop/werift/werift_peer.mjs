// werift (TypeScript WebRTC on Node) as the remote side of pyrtcstack's interop harness.
//   node werift_peer.mjs http://127.0.0.1:PORT/
// The harness copies this file and peer.js next to the node_modules that holds werift
// (.werift/, made by scripts/setup.sh --system): ES modules ignore NODE_PATH.
import {
  MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket,
} from "werift";
import { runPeer, summarizeStats } from "./peer.js";
import dgram from "node:dgram";
import { syncBuiltinESMExports } from "node:module";

// werift creates its UDP sockets with dgram.createSocket(type) and has no option for their
// receive buffer, so a busy werift (one Node thread sending 1,200-byte messages) lets the
// system default (net.core.rmem_default, 208 KiB) overflow and drops our SACKs and consent
// answers. The harness asks Node for a 4 MiB SO_RCVBUF on each of werift's sockets, as the
// Pion peer does (its SettingEngine): werift's ES build imports `createSocket` from "dgram"
// by name, and syncBuiltinESMExports() makes that binding see the wrapper. The kernel caps
// the request at net.core.rmem_max.
const RECV_BUFFER = 4 << 20;
const createSocket = dgram.createSocket;
dgram.createSocket = (options, listener) => createSocket(
  typeof options === "string" ? { type: options, recvBufferSize: RECV_BUFFER } : { recvBufferSize: RECV_BUFFER, ...options },
  listener,
);
syncBuiltinESMExports();

const base = process.argv[2];
if (!base) {
  console.error("usage: node werift_peer.mjs http://127.0.0.1:PORT/");
  process.exit(2);
}
const isLoopback = (h) => h === "127.0.0.1" || h === "::1";

const A = {
  print: (s) => console.error(s),
  beforeFirstPc(cfg) {
    // The overall bound: 10 min, or the scenarios' own timeouts if longer (benchmarks).
    const total = cfg.scenarios.reduce((t, sc) => t + (sc.timeoutMs || 30000), 60000);
    if (total > OVERALL_MS) {
      clearTimeout(timer);
      timer = setTimeout(overall, total);
    }
  },
  newPC(cfg, sc) {
    const pc = new RTCPeerConnection({
      // NOT []: werift then falls back to stun.l.google.com. The harness runs a STUN
      // Binding responder on loopback and gives its URL.
      iceServers: cfg.stun ? [{ urls: cfg.stun }] : [],
      iceAdditionalHostAddresses: ["127.0.0.1"], // werift skips loopback otherwise
      iceUseIpv6: false,
      iceFilterCandidatePair: (p) => isLoopback(p.localCandidate.host) && isLoopback(p.remoteCandidate.host),
      codecs: {
        audio: [new RTCRtpCodecParameters({ mimeType: "audio/PCMU", clockRate: 8000, channels: 1, payloadType: 0 })],
      },
    });
    return pc;
  },
  gathered(pc) {
    return new Promise((res) => {
      if (pc.iceGatheringState === "complete") return res();
      pc.iceGatheringStateChange.subscribe((s) => { if (s === "complete") res(); });
    });
  },
  onCandidate(pc, cb) {
    pc.onIceCandidate.subscribe((c) => cb(c ? (c.toJSON ? c.toJSON() : c) : null));
  },
  onConnState(pc, cb) { pc.connectionStateChange.subscribe((s) => cb(s)); },
  onDataChannel(pc, cb) { pc.onDataChannel.subscribe((dc) => cb(dc)); },
  setBinary(dc) {},
  onOpen(dc, cb) {
    if (dc.readyState === "open") cb();
    else dc.stateChanged.subscribe((s) => { if (s === "open") cb(); });
  },
  onClose(dc, cb) { dc.stateChanged.subscribe((s) => { if (s === "closed") cb(); }); },
  onMessage(dc, cb) { dc.onMessage.subscribe((data) => cb(data)); },
  createDataChannel(pc, label, options) { return pc.createDataChannel(label, options); },
  onBufferedLow(dc, cb) { dc.bufferedAmountLow.subscribe(() => cb()); },
  payload(size) { return Buffer.alloc(size); },
  // werift's send() runs its SCTP transmit at once: the bench sender (peer.js) yields to
  // Node's I/O every 32 messages, so that werift reads its socket (our SACKs, the answers
  // to its consent checks, whose wait is 500 ms) while it fills its 1 MiB buffer.
  yieldToIo: Object.assign(() => new Promise((res) => setImmediate(res)), { every: 32 }),
  // werift has no microphone: a 440 Hz µ-law tone in hand-built 20 ms RTP packets.
  async addMic(pc) {
    const track = new MediaStreamTrack({ kind: "audio" });
    const offered = pc.getTransceivers().find((t) => t.kind === "audio");
    if (offered) {
      offered.sender.replaceTrack(track);
      offered.setDirection("sendrecv");
    } else {
      pc.addTransceiver(track, { direction: "sendrecv" });
    }
    pc._micAdded = true;
    pc.connectionStateChange.subscribe((s) => { if (s === "connected" && !pc._tone) pc._tone = startTone(track); });
  },
  onTrack(pc) {
    pc._rtpIn = 0;
    pc.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => { pc._rtpIn++; }));
  },
  async restart(pc) { pc.restartIce(); },
  offer(pc, iceRestart) { return pc.createOffer({ iceRestart }); },
  maxMessageSize(pc) {
    const t = pc.sctpTransport;
    return t && t.maxMessageSize ? t.maxMessageSize : null;
  },
  async stats(pc) {
    if (pc._rtpIn !== undefined) {
      // werift's getStats has no audio energy: report what arrived, as inbound-rtp would.
      const s = summarizeStats([]);
      s.inbound.push({ kind: "audio", packetsReceived: pc._rtpIn, codecId: "werift-pcmu" });
      s.codecs.push({ id: "werift-pcmu", mimeType: "audio/PCMU" });
      const full = await A.statsOnly(pc);
      return { ...full, inbound: s.inbound, codecs: s.codecs };
    }
    return A.statsOnly(pc);
  },
  async statsOnly(pc) {
    if (!pc.getStats) return null;
    const report = await pc.getStats();
    const entries = report && report.values ? [...report.values()] : [];
    return summarizeStats(JSON.parse(JSON.stringify(entries, (k, v) => (typeof v === "bigint" ? Number(v) : v))));
  },
};

function startTone(track) {
  let seq = 0, ts = 0, phase = 0;
  const lin2ulaw = (x) => {
    const BIAS = 0x84; const sign = (x >> 8) & 0x80; if (sign) x = -x; if (x > 32635) x = 32635;
    x += BIAS; let exp = 7; for (let m = 0x4000; (x & m) === 0 && exp > 0; m >>= 1) exp--;
    const man = (x >> (exp + 3)) & 0x0f; return ~(sign | (exp << 4) | man) & 0xff;
  };
  return setInterval(() => {
    const payload = Buffer.alloc(160);
    for (let i = 0; i < 160; i++) {
      payload[i] = lin2ulaw(Math.round(8000 * Math.sin(phase)));
      phase += (2 * Math.PI * 440) / 8000;
    }
    const header = new RtpHeader({ payloadType: 0, sequenceNumber: seq++ & 0xffff, timestamp: ts >>> 0, marker: seq === 1 });
    ts += 160;
    track.writeRtp(new RtpPacket(header, payload));
  }, 20);
}

const OVERALL_MS = 600000;
const overall = () => { console.error("werift peer: overall timeout"); process.exit(3); };
let timer = setTimeout(overall, OVERALL_MS);
runPeer(base, A).then(
  () => { clearTimeout(timer); setTimeout(() => process.exit(0), 50); },
  (e) => { console.error(`werift peer fatal: ${e && e.stack ? e.stack : e}`); process.exit(1); },
);
