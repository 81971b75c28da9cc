"""Serve a web page, and talk to the browser that opens it over a WebRTC data channel.

Run it:  python examples/browser_page.py           then open the printed URL
         python examples/browser_page.py --self-test   (no browser: a Python "page")

The page (PAGE below, plain JavaScript) creates an RTCPeerConnection and a data channel
"chat", makes an offer, waits for ICE gathering to finish (non-trickle: the offer then
holds every candidate) and POSTs it to /offer. This server answers with a pyrtcstack
PeerConnection; the HTTP response carries the answer. From then on the browser and
Python talk directly, peer to peer: the HTTP server was only the signaling channel.

What they say: the browser greets ("hello from the browser"), Python answers
("hi from python"), the browser echoes every message it gets ("echo: hi from python").
With --once the script exits after that echo (tests use it).

Served on 127.0.0.1 by default: Chromium offers loopback candidates only with
``--allow-loopback-in-peer-connection`` (and raw IPs, not mDNS names, with
``--disable-features=WebRtcHideLocalIpsWithMdns``). ``--host 0.0.0.0`` serves the LAN.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from pyrtcstack import PeerConnection
from pyrtcstack.interop.httpserver import HttpServer, Request, Response
from pyrtcstack.peerconnection import Description, Settings

PAGE = b"""<!doctype html>
<meta charset="utf-8"><title>pyrtcstack example</title>
<p id="state">connecting...</p><pre id="log"></pre>
<script type="module">
const log = (s) => { document.getElementById("log").textContent += s + "\\n"; };
const pc = new RTCPeerConnection({ iceServers: [] });   // no STUN server: same host/LAN
const dc = pc.createDataChannel("chat");
dc.onopen = () => {
  document.getElementById("state").textContent = "open";
  dc.send("hello from the browser");
};
dc.onmessage = (e) => { log("< " + e.data); dc.send("echo: " + e.data); };
await pc.setLocalDescription(await pc.createOffer());
while (pc.iceGatheringState !== "complete") {             // non-trickle: wait for all
  await new Promise((r) => pc.addEventListener("icegatheringstatechange", r, { once: true }));
}
const answer = await fetch("offer", { method: "POST", body: JSON.stringify(pc.localDescription) });
await pc.setRemoteDescription(await answer.json());
</script>
"""


async def serve(host: str, port: int, once: bool, self_test: bool) -> None:
    # Loopback only when serving loopback: otherwise gather every interface.
    settings = Settings(host_addresses=["127.0.0.1"] if host == "127.0.0.1" else None)
    pc = PeerConnection(settings=settings)
    finished = asyncio.Event()

    def on_datachannel(channel: Any) -> None:
        def on_message(message: str | bytes) -> None:
            print(f"< {message}", flush=True)
            if message == "hello from the browser":
                channel.send("hi from python")
            elif isinstance(message, str) and message.startswith("echo: ") and once:
                finished.set()

        channel.on("message", on_message)

    pc.on("datachannel", on_datachannel)

    async def handle(request: Request) -> Response:
        if request.method == "GET" and request.path == "/":
            return Response(200, PAGE, "text/html; charset=utf-8")
        if request.method == "POST" and request.path == "/offer":
            try:  # whatever arrives is untrusted: a bad offer is a 400, not a crash
                await pc.set_remote_description(Description.from_dict(request.json()))
                await pc.set_local_description()  # the answer
                await pc.wait_gathering_complete()
            except Exception as exc:
                return Response(400, f"{type(exc).__name__}: {exc}".encode(), "text/plain")
            assert pc.local_description is not None
            return Response.json(pc.local_description.to_dict())
        return Response(404, b"not found", "text/plain")

    server = HttpServer(handle)
    url = await server.start(host, port)
    print(f"open {url}", flush=True)
    browser = None
    try:
        if self_test:
            browser = await fake_browser(url)
        await finished.wait()
    finally:
        await server.close()
        await pc.close()
        if browser is not None:
            await browser.close()


async def fake_browser(url: str) -> PeerConnection:
    """What the page does, in Python: load it, offer, POST, greet, echo."""
    host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
    page = await http(host, int(port), "GET", "/")
    assert b"RTCPeerConnection" in page  # the page is really served
    pc = PeerConnection(settings=Settings(host_addresses=["127.0.0.1"]))
    channel = pc.create_data_channel("chat")
    channel.on("open", lambda: channel.send("hello from the browser"))
    channel.on("message", lambda m: channel.send(f"echo: {m}"))
    await pc.set_local_description()
    await pc.wait_gathering_complete()
    assert pc.local_description is not None
    body = json.dumps(pc.local_description.to_dict()).encode()
    answer = await http(host, int(port), "POST", "/offer", body)
    await pc.set_remote_description(Description.from_dict(json.loads(answer)))
    return pc


async def http(host: str, port: int, method: str, path: str, body: bytes = b"") -> bytes:
    """A minimal HTTP/1.1 client (one request, Connection: close)."""
    reader, writer = await asyncio.open_connection(host, port)
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    response = await reader.read()
    writer.close()
    status, _, rest = response.partition(b"\r\n")
    assert b" 200 " in status, status
    return rest.split(b"\r\n\r\n", 1)[1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--once", action="store_true", help="exit after the first echo")
    parser.add_argument(
        "--self-test", action="store_true", help="play the browser too (implies --once)"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.once or args.self_test, args.self_test))
