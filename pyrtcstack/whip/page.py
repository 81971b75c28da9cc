"""The page ``pyrtcstack whip-server`` serves at ``/``: a WHEP player in a browser.

It offers to receive audio and video (``recvonly`` transceivers), waits for ICE gathering
to complete (no trickle: one POST), POSTs the offer to ``/whep`` with the bearer token
from the URL fragment (``#token=...``: a fragment is never sent to a server or logged),
applies the answer and shows the stream. ``?report=URL`` makes it POST its inbound-rtp
statistics there every 500 ms (tests read ``framesDecoded`` that way), and DELETE on
unload ends the session.
"""

from __future__ import annotations

__all__ = ["PLAYER_PAGE"]

PLAYER_PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>pyrtcstack WHEP player</title>
<style>body{font-family:sans-serif;margin:2em}video{width:640px;background:#000}</style>
<h1>pyrtcstack WHEP player</h1>
<video id="video" autoplay playsinline muted controls></video>
<p id="status">connecting…</p>
<script>
const status = (text) => { document.getElementById("status").textContent = text; };
const params = new URLSearchParams(location.search);
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const report = params.get("report");
const send = (obj) => fetch(report, {method: "POST", mode: "no-cors", body: JSON.stringify(obj)});
(async () => {
  try {
    const pc = new RTCPeerConnection();
    pc.addTransceiver("video", {direction: "recvonly"});
    pc.addTransceiver("audio", {direction: "recvonly"});
    const stream = new MediaStream();
    document.getElementById("video").srcObject = stream;
    pc.ontrack = (event) => stream.addTrack(event.track);
    await pc.setLocalDescription();
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      });
    });
    const headers = {"Content-Type": "application/sdp"};
    if (token) headers["Authorization"] = "Bearer " + token;
    const response = await fetch("/whep", {method: "POST", headers, body: pc.localDescription.sdp});
    if (response.status !== 201) throw new Error(response.status + " " + await response.text());
    const location = response.headers.get("Location");
    await pc.setRemoteDescription({type: "answer", sdp: await response.text()});
    window.addEventListener("pagehide",
      () => fetch(location, {method: "DELETE", headers, keepalive: true}));
    pc.onconnectionstatechange = () => status("connection " + pc.connectionState);
    if (report) {
      setInterval(async () => {
        const out = [];
        (await pc.getStats()).forEach((s) => {
          if (s.type === "inbound-rtp" || s.type === "codec") out.push(s);
        });
        send(out);
      }, 500);
    }
  } catch (e) {
    status("error: " + e);
    if (report) send({error: String(e)});
  }
})();
</script>
</html>
"""
