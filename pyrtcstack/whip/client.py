"""WHIP (RFC 9725) and WHEP clients on aiohttp and our
:class:`~pyrtcstack.aio.peerconnection.PeerConnection`.

::

    pc = PeerConnection(None, Settings(host_addresses=["127.0.0.1"]))
    pc.add_transceiver("video", direction="sendonly", track=IvfTrack("in.ivf"))
    client = WhipClient("http://127.0.0.1:8080/whip", token=None)
    await client.publish(pc)          # POST offer → 201 answer (§4.2)
    ...
    await client.restart_ice()        # PATCH If-Match: * (§4.3.2)
    await client.close()              # DELETE (§4.2)

The offer is sent whole (we wait for ICE gathering to complete, so no trickle PATCH is
needed from our side). Errors from the server become :class:`WhipError` with its status and
its one-line reason.
"""

from __future__ import annotations

from urllib.parse import urljoin

import aiohttp

from ..aio.peerconnection import PeerConnection
from ..common.errors import PyrtcstackError
from ..peerconnection import Description
from .links import IceServerLink, LinkHeaderError, ice_servers, parse_link_header
from .sdpfrag import SDPFRAG_TYPE, frag_from_sdp, parse_sdpfrag, replace_ice

__all__ = ["WhepClient", "WhipClient", "WhipError"]

#: Seconds any one HTTP request may take.
HTTP_TIMEOUT = 15.0
#: Largest response body read (an answer is a few KiB).
MAX_RESPONSE = 256 * 1024


class WhipError(PyrtcstackError):
    """The server refused (``status`` is its HTTP status, 0 when it could not be asked)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class WhipClient:
    """One WHIP session from the client side (RFC 9725 §4.2–4.3)."""

    def __init__(self, url: str, *, token: str | None = None) -> None:
        self.url = url
        self._token = token
        self.location: str | None = None
        self.etag: str | None = None
        #: STUN/TURN servers the endpoint sent in Link headers (§4.6)
        self.ice_servers: list[IceServerLink] = []
        self.pc: PeerConnection | None = None
        self._http: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} location={self.location}>"

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    async def _request(
        self, method: str, url: str, body: str | None, headers: dict[str, str]
    ) -> tuple[int, str, aiohttp.ClientResponse]:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
        try:
            async with self._http.request(
                method, url, data=body, headers=headers, allow_redirects=True
            ) as response:
                data = await response.content.read(MAX_RESPONSE + 1)
                if len(data) > MAX_RESPONSE:
                    raise WhipError(f"{method} {url}: response over {MAX_RESPONSE} bytes")
                return response.status, data.decode("utf-8", "replace"), response
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise WhipError(f"{method} {url}: {exc or type(exc).__name__}") from None

    @staticmethod
    def _refused(method: str, status: int, text: str) -> WhipError:
        reason = text.strip().splitlines()[0][:200] if text.strip() else ""
        return WhipError(f"{method} refused: HTTP {status} {reason}".rstrip(), status)

    async def publish(self, pc: PeerConnection) -> Description:
        """Offer ``pc``'s transceivers and apply the answer; returns the answer."""
        self.pc = pc
        await pc.set_local_description()
        await pc.wait_gathering_complete()
        offer = pc.local_description
        assert offer is not None
        status, text, response = await self._request(
            "POST", self.url, offer.sdp, self._headers("application/sdp")
        )
        if status != 201:
            raise self._refused("POST", status, text)
        location = response.headers.get("Location")
        if not location:
            raise WhipError("the server's 201 has no Location header", status)
        self.location = urljoin(str(response.url), location)
        self.etag = response.headers.get("ETag")
        try:
            self.ice_servers = ice_servers(parse_link_header(response.headers.getall("Link", [])))
        except LinkHeaderError:
            self.ice_servers = []  # §4.6 is advisory: a bad Link header is not fatal
        answer = Description("answer", text)
        await pc.set_remote_description(answer)
        return answer

    async def restart_ice(self) -> None:
        """RFC 9725 §4.3.2: restart ICE with new credentials sent in a PATCH (If-Match: *);
        the server's fragment gives its new credentials and candidates."""
        pc = self.pc
        if pc is None or self.location is None or pc.remote_description is None:
            raise WhipError("restart_ice before publish")
        pc.restart_ice()
        await pc.set_local_description()
        await pc.wait_gathering_complete()
        local = pc.local_description
        assert local is not None
        headers = self._headers(SDPFRAG_TYPE)
        headers["If-Match"] = "*"
        status, text, response = await self._request(
            "PATCH", self.location, frag_from_sdp(local.sdp).to_text(), headers
        )
        if status != 200:
            raise self._refused("PATCH", status, text)
        self.etag = response.headers.get("ETag", self.etag)
        theirs = parse_sdpfrag(text)
        await pc.set_remote_description(
            Description("answer", replace_ice(pc.remote_description.sdp, theirs))
        )

    async def close(self) -> None:
        """DELETE the session (§4.2) and close the HTTP client (the peer connection is the
        caller's)."""
        try:
            if self.location is not None:
                location, self.location = self.location, None
                status, text, _ = await self._request("DELETE", location, None, self._headers())
                if status not in (200, 204):
                    raise self._refused("DELETE", status, text)
        finally:
            if self._http is not None:
                await self._http.close()
                self._http = None


class WhepClient(WhipClient):
    """A WHEP session (draft-ietf-wish-whep): the same exchange, for playback; the offer
    has ``recvonly`` transceivers."""
