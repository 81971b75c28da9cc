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

Trickle ICE (RFC 9725 §4.3.1, RFC 8840) is the default: the offer is POSTed as soon as it
is made, without candidates, and each candidate our ICE agent gathers afterwards goes to
the session in a PATCH (``application/trickle-ice-sdpfrag``, ``If-Match`` with the ETag of
the 201), the last one with ``a=end-of-candidates``. ``trickle=False`` waits for gathering
to finish and POSTs a complete offer instead (one request, for servers that do not
accept PATCH). Errors from the server become :class:`WhipError` with its status and its
one-line reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from urllib.parse import urljoin

import aiohttp

from ..aio import PeerConnection
from ..common.errors import PyrtcstackError
from ..peerconnection import Description, IceCandidateInit
from ..sdp import Candidate
from .links import IceServerLink, LinkHeaderError, ice_servers, parse_link_header
from .sdpfrag import (
    MAX_SDPFRAG_CANDIDATES,
    SDPFRAG_TYPE,
    FragMedia,
    SdpFrag,
    frag_from_sdp,
    parse_sdpfrag,
    replace_ice,
)

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

    def __init__(self, url: str, *, token: str | None = None, trickle: bool = True) -> None:
        self.url = url
        self._token = token
        #: send candidates by PATCH after the POST (True) or a complete offer (False)
        self.trickle = trickle
        #: trickle PATCHes sent and the candidates they carried
        self.patches_sent = 0
        self.candidates_sent = 0
        #: the trickle failed (the server refused a PATCH): why; ICE may still connect
        #: on the candidates already sent and peer-reflexive ones
        self.trickle_error: WhipError | None = None
        self._trickle_task: asyncio.Task[None] | None = None
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
        """Offer ``pc``'s transceivers and apply the answer; returns the answer. With
        ``trickle`` the candidates follow by PATCH in the background
        (:meth:`wait_trickled`)."""
        self.pc = pc
        candidates: asyncio.Queue[IceCandidateInit | None] = asyncio.Queue()
        listener = candidates.put_nowait
        if self.trickle:
            # registered before gathering starts: no candidate can be missed
            pc.on("icecandidate", listener)
            offer = await pc.create_offer()  # JSEP: an offer as made has no candidate
            await pc.set_local_description(offer)
        else:
            await pc.set_local_description()
            await pc.wait_gathering_complete()
            local = pc.local_description
            assert local is not None
            offer = local
        try:
            status, text, response = await self._request(
                "POST", self.url, offer.sdp, self._headers("application/sdp")
            )
        except WhipError:
            if self.trickle:
                pc.off("icecandidate", listener)
            raise
        if status != 201:
            if self.trickle:
                pc.off("icecandidate", listener)
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
        try:
            await pc.set_remote_description(answer)
        except PyrtcstackError:
            pc.off("icecandidate", listener)
            raise
        if self.trickle:
            frag = frag_from_sdp(offer.sdp)
            mid = frag.media[0].mid if frag.media else None
            self._trickle_task = asyncio.ensure_future(
                self._trickle(pc, candidates, listener, frag, mid)
            )
        return answer

    async def _trickle(
        self,
        pc: PeerConnection,
        candidates: asyncio.Queue[IceCandidateInit | None],
        listener: Callable[[IceCandidateInit | None], None],
        offer: SdpFrag,
        first_mid: str | None,
    ) -> None:
        """RFC 9725 §4.3.1: PATCH the candidates gathered so far, then each new batch,
        until end-of-candidates. RFC 8840 §4.4: the fragment carries our ICE credentials
        and the m= section (by mid) the candidates belong to; with BUNDLE that is the
        first one (RFC 9725 §4.4)."""
        try:
            done = False
            while not done:
                batch = [await candidates.get()]
                while not candidates.empty() and len(batch) < MAX_SDPFRAG_CANDIDATES:
                    batch.append(candidates.get_nowait())
                found = [c for c in batch if c is not None and c.candidate]
                done = len(found) < len(batch)
                media = FragMedia("m=audio 9 UDP/TLS/RTP/SAVPF 0", first_mid)
                media.candidates = [Candidate.parse(c.candidate) for c in found]
                media.end_of_candidates = done
                frag = SdpFrag(offer.ufrag, offer.pwd, [media])
                await self._patch_candidates(frag.to_text())
                self.candidates_sent += len(found)
        except WhipError as exc:
            self.trickle_error = exc
        finally:
            pc.off("icecandidate", listener)

    async def _patch_candidates(self, body: str) -> None:
        if self.location is None:
            raise WhipError("the session is closed")
        headers = self._headers(SDPFRAG_TYPE)
        headers["If-Match"] = self.etag or "*"
        status, text, _ = await self._request("PATCH", self.location, body, headers)
        if status not in (200, 204):
            raise self._refused("PATCH", status, text)
        self.patches_sent += 1

    async def wait_trickled(self, timeout: float = 10.0) -> None:
        """Until every candidate was PATCHed and end-of-candidates sent (or the trickle
        failed: :attr:`trickle_error`)."""
        task = self._trickle_task
        if task is not None:
            async with asyncio.timeout(timeout):
                await asyncio.shield(task)

    async def _stop_trickle(self) -> None:
        task, self._trickle_task = self._trickle_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def restart_ice(self) -> None:
        """RFC 9725 §4.3.2: restart ICE with new credentials sent in a PATCH (If-Match: *);
        the server's fragment gives its new credentials and candidates."""
        pc = self.pc
        if pc is None or self.location is None or pc.remote_description is None:
            raise WhipError("restart_ice before publish")
        await self._stop_trickle()  # the old generation's candidates no longer matter
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
        await self._stop_trickle()
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
