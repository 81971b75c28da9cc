// werift (TypeScript WebRTC on Node) as the remote side of pyrtcstack's interop harness.
//   node werift_peer.mjs http://127.0.0.1:PORT/
// The harness copies this file and peer.js next to the node_modules that holds werift
// (.werift/, made by scripts/setup.sh --system): ES modules ignore NODE_PATH.
import { RTCPeerConnection, RTCRtpCodecParameters } from "werift";
import { runPeer, summarizeStats } from "./peer.js";

const base = process.argv[2];
if (!base) {
  console.error("usage: node werift_peer.mjs http://127.0.0.1:PORT/");
  process.exit(2);
}
const isLoopback = (h) => h === "127.0.0.1" || h === "::1";

const A = {
  print: (s) => console.error(s),
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
  async restart(pc) { pc.restartIce(); },
  offer(pc, iceRestart) { return pc.createOffer({ iceRestart }); },
  maxMessageSize(pc) {
    const t = pc.sctpTransport;
    return t && t.maxMessageSize ? t.maxMessageSize : null;
  },
  async stats(pc) {
    if (!pc.getStats) return null;
    const report = await pc.getStats();
    const entries = report && report.values ? [...report.values()] : [];
    return summarizeStats(JSON.parse(JSON.stringify(entries, (k, v) => (typeof v === "bigint" ? Number(v) : v))));
  },
};

const timer = setTimeout(() => { console.error("werift peer: overall timeout"); process.exit(3); }, 600000);
runPeer(base, A).then(
  () => { clearTimeout(timer); setTimeout(() => process.exit(0), 50); },
  (e) => { console.error(`werift peer fatal: ${e && e.stack ? e.stack : e}`); process.exit(1); },
);
