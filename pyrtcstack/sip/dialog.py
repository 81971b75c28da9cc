"""A call's state (RFC 3261 §12: the dialog) and the outbox the user agent's parts send
through.

:class:`Call` holds what ties a call's requests together — Call-ID, the two tags, our
CSeq, the remote target and route set (§12.1) — with the INVITE and re-INVITE
transactions in flight. It builds the requests inside its dialog (§12.2.1.1) and says
where they go. :class:`Outbox` is the one way out: the transaction layer, and the
messages the agent sends itself (an ACK to a 2xx, §13.2.2.4; a 200 again, §13.3.1.4),
kept in order with the layer's.
"""

from __future__ import annotations

from collections.abc import Callable

from pyrtcstack.common.core import Address
from pyrtcstack.sip.builders import AUTH_FIELDS, build_request
from pyrtcstack.sip.errors import SipParseError
from pyrtcstack.sip.message import Request, Response
from pyrtcstack.sip.transaction import T1, TransactionLayer
from pyrtcstack.sip.uri import SipUri

__all__ = ["Call", "Outbox"]


class Call:
    """One call, ours (``role="uac"``) or the peer's (``"uas"``): see the module docstring.

    ``state``: calling, early, answered, confirmed, ending, ended."""

    __slots__ = (
        "ack",
        "auth_tried",
        "bye",
        "bye_auth_tried",
        "bye_key",
        "call_id",
        "cancelled",
        "invite",
        "invite_key",
        "local_cseq",
        "local_tag",
        "local_uri",
        "ok",
        "ok_deadline",
        "ok_interval",
        "ok_until",
        "peer",
        "reinvite",
        "reinvite_auth_tried",
        "reinvite_backoff",
        "reinvite_key",
        "reinvite_pending",
        "reinvite_queued",
        "reinvite_retries",
        "reinvite_server",
        "remote_tag",
        "remote_target",
        "remote_uri",
        "role",
        "route_set",
        "server_key",
        "state",
    )  # fmt: skip

    def __init__(self, call_id: str, role: str, peer: Address) -> None:
        self.call_id = call_id
        self.role = role  # "uac" or "uas"
        self.peer = peer
        self.state = "calling"
        self.local_tag = ""
        self.remote_tag: str | None = None
        self.local_uri = ""
        self.remote_uri = ""
        self.remote_target = ""
        self.route_set: list[str] = []
        self.local_cseq = 1
        self.invite: Request | None = None  # the INVITE (ours without its Via)
        self.invite_key: str | None = None
        self.server_key: str | None = None
        self.bye: Request | None = None  # our BYE (without its Via), for a digest retry
        self.bye_key: str | None = None
        self.bye_auth_tried = False
        self.ack: bytes | None = None  # our last ACK to a 2xx, sent again on a 2xx again
        self.ok: bytes | None = None  # our 2xx, sent again until its ACK
        self.ok_deadline: float | None = None
        self.ok_interval = T1
        self.ok_until = 0.0
        self.cancelled = False
        self.auth_tried = False
        self.reinvite: Request | None = None  # our last re-INVITE (without its Via)
        self.reinvite_key: str | None = None  # ... its client transaction
        self.reinvite_pending = False  # ... it has no final answer yet
        self.reinvite_auth_tried = False  # ... it carries credentials after a 401/407
        self.reinvite_backoff: float | None = None  # ... when to send it again after a 491
        self.reinvite_retries = 0  # ... how many times it was sent again after a 491
        self.reinvite_queued: bytes | None = None  # an offer waiting for the peer's ACK
        self.reinvite_server: tuple[Request, str] | None = None  # the peer's, unanswered

    def request(
        self, method: str, cseq: int, body: bytes | None = None,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> Request:  # fmt: skip
        """A request inside the dialog (§12.2.1.1): the route set, the remote target."""
        to = f"<{self.remote_uri}>" + (f";tag={self.remote_tag}" if self.remote_tag else "")
        return build_request(
            method, self.remote_target, from_=f"<{self.local_uri}>;tag={self.local_tag}",
            to=to, call_id=self.call_id, cseq=cseq, routes=self.route_set, extra=extra,
            body=body,
        )  # fmt: skip

    def again_with_credentials(
        self, request: Request, challenge: Response,
        authorize: Callable[[Request, Response, int], Request | None],
    ) -> Request | None:  # fmt: skip
        """``request`` of this dialog again for the 401/407 ``challenge`` (§22.2): with the
        credentials and our next CSeq (§8.1.3.5, §12.2.1.1); ``None``: none to give."""
        again = authorize(request, challenge, self.local_cseq + 1)
        if again is not None:
            self.local_cseq += 1
        return again

    def destination(self) -> Address:
        """Where in-dialog requests go: the first route, else the remote target when it
        names an IP address, else the address the dialog came from (no DNS here)."""
        uri_text = (
            self.route_set[0].strip("<>").split(">")[0] if self.route_set else self.remote_target
        )
        try:
            uri = SipUri.parse(uri_text)
        except SipParseError:
            return self.peer
        host = uri.host.strip("[]")
        if host.replace(".", "").isdigit() or ":" in host:
            return (host, uri.port or 5060)
        return self.peer


class Outbox:
    """The user agent's one way out (see the module docstring); ``now`` is set by the
    agent on every call into it."""

    def __init__(self, layer: TransactionLayer) -> None:
        self.layer = layer
        self.now = 0.0
        self._out: list[tuple[bytes, Address]] = []
        self._owners: dict[str, str] = {}  # client transaction key -> Call-ID

    def send_request(self, request: Request, destination: Address, owner: str) -> str:
        """A request in a new client transaction, for ``owner`` (the Call-ID of a call or
        a registration, which :meth:`owner` gives back for the transaction's key until
        :meth:`release`, when the layer reports it terminated); its key."""
        key = self.layer.send_request(request, destination, self.now)
        self._owners[key] = owner
        return key

    def owner(self, key: str) -> str | None:
        return self._owners.get(key)

    def release(self, key: str) -> None:
        self._owners.pop(key, None)

    def send_response(self, key: str, response: Response) -> None:
        self.layer.send_response(key, response, self.now)

    def send_ack(self, call: Call, sdp: bytes | None, invite: Request) -> None:
        """§13.2.2.4: the ACK to a 2xx is its own transaction-less request (new branch),
        with the INVITE's CSeq number and the same credentials as the INVITE; kept to be
        sent again on the 2xx again."""
        credentials = tuple((n, v) for n, v in invite.headers if n in AUTH_FIELDS)
        request = call.request("ACK", invite.cseq.number, sdp, credentials)
        self.layer.send_request(request, call.destination(), self.now)
        sent = self.layer.datagrams_to_send(self.now)
        call.ack = sent[-1][0] if sent else None
        self._out += sent

    def send_again(self, data: bytes, destination: Address) -> None:
        """Bytes already sent once (an ACK, a 200), outside any transaction."""
        self._out.append((data, destination))
        observer = self.layer.observer
        if observer is not None:  # observation point: the wire, out (sent again)
            observer.message_sent(data, destination, self.now)

    @property
    def pending(self) -> bool:
        return bool(self._out)

    def take(self, now: float) -> list[tuple[bytes, Address]]:
        """What the agent queued itself, then the layer's output: a BYE sent after an ACK
        must not overtake it."""
        out = self._out
        self._out = []
        out += self.layer.datagrams_to_send(now)
        return out
