"""``getStats()`` in the webrtc-stats shapes (W3C "Identifiers for WebRTC's Statistics
API"), with ids that cross-reference: a transport names its selected candidate pair and
certificates, a pair names its candidates, an RTP stream names its transport and codec.

Ids follow the browsers' style: ``P`` (peer-connection), ``T01`` (the one bundled
transport), ``CP<local>_<remote>``, ``I<id>`` (candidates), ``CF<fingerprint>``
(certificates), ``D<n>`` (data channels), ``IT01A<ssrc>`` / ``OT01A<ssrc>`` (RTP
streams), ``CIT01_<pt>`` / ``COT01_<pt>`` (codecs).
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

from ..ice import IceCandidate

if TYPE_CHECKING:
    from .core import PeerConnectionCore

__all__ = ["collect_stats", "srtp_cipher_name"]

_SRTP_NAMES = {
    0x0001: "AES_CM_128_HMAC_SHA1_80",
    0x0002: "AES_CM_128_HMAC_SHA1_32",
    0x0007: "AEAD_AES_128_GCM",
    0x0008: "AEAD_AES_256_GCM",
}
_TRANSPORT = "T01"


def srtp_cipher_name(profile_id: int) -> str:
    """webrtc-stats ``srtpCipher``: the RFC 5764/7714 profile name as browsers print it."""
    return _SRTP_NAMES.get(profile_id, f"0x{profile_id:04x}")


def _candidate_id(c: IceCandidate) -> str:
    digest = hashlib.sha1(f"{c.type}{c.address}{c.priority}".encode()).hexdigest()[:8]
    return f"I{digest}"


def _candidate(c: IceCandidate, kind: str, ts: float) -> dict[str, Any]:
    return {
        "id": _candidate_id(c),
        "type": kind,
        "timestamp": ts,
        "transportId": _TRANSPORT,
        "address": c.address[0],
        "port": c.address[1],
        "protocol": c.transport,
        "candidateType": c.type.value,
        "priority": c.priority,
        "foundation": c.foundation,
        **(
            {"relatedAddress": c.related[0], "relatedPort": c.related[1]}
            if c.related is not None
            else {}
        ),
    }


def collect_stats(
    core: PeerConnectionCore, now: float, channels: list[Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Build the stats report of ``core`` at time ``now`` (milliseconds in ``timestamp``).
    ``channels`` are the asyncio wrappers that count messages (optional)."""
    ts = now * 1000.0
    report: dict[str, dict[str, Any]] = {}
    wrappers = {id(w.channel): w for w in (channels or [])}
    opened = sum(1 for w in wrappers.values() if w.has_opened)
    closed = sum(1 for w in wrappers.values() if w.has_closed)
    report["P"] = {
        "id": "P",
        "type": "peer-connection",
        "timestamp": ts,
        "dataChannelsOpened": opened,
        "dataChannelsClosed": closed,
    }
    # certificates
    local_fp = core.certificate.fingerprint()
    local_cert_id = "CF" + local_fp.value
    report[local_cert_id] = {
        "id": local_cert_id,
        "type": "certificate",
        "timestamp": ts,
        "fingerprint": local_fp.value,
        "fingerprintAlgorithm": local_fp.algorithm,
        "base64Certificate": base64.b64encode(_der(core.certificate.certificate_pem())).decode(),
    }
    remote_cert_id = None
    peer_der = core.dtls.peer_certificate
    if peer_der is not None:
        digest = hashlib.sha256(peer_der).hexdigest().upper()
        value = ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
        remote_cert_id = "CF" + value
        report[remote_cert_id] = {
            "id": remote_cert_id,
            "type": "certificate",
            "timestamp": ts,
            "fingerprint": value,
            "fingerprintAlgorithm": "sha-256",
            "base64Certificate": base64.b64encode(peer_der).decode(),
        }
    # candidates and pairs
    agent = core.agent
    selected_id = None
    if agent is not None:
        for c in agent.local_candidates:
            report[_candidate_id(c)] = entry = _candidate(c, "local-candidate", ts)
            relay_protocol = agent.relay_transport(c)
            if relay_protocol is not None:
                # webrtc-stats: how a relayed candidate reaches its TURN server
                entry["relayProtocol"] = relay_protocol
        remotes = list(agent.remote_candidates)
        for c in remotes:
            report[_candidate_id(c)] = _candidate(c, "remote-candidate", ts)
        selected = agent.selected_pair
        pairs = list(agent.pairs)
        if selected is not None and selected not in pairs:
            pairs.append(selected)
        for pair in pairs:
            local = pair.valid_local or pair.local
            for c, kind in ((local, "local-candidate"), (pair.remote, "remote-candidate")):
                report.setdefault(_candidate_id(c), _candidate(c, kind, ts))
            pid = f"CP{_candidate_id(local)[1:]}_{_candidate_id(pair.remote)[1:]}"
            report[pid] = {
                "id": pid,
                "type": "candidate-pair",
                "timestamp": ts,
                "transportId": _TRANSPORT,
                "localCandidateId": _candidate_id(local),
                "remoteCandidateId": _candidate_id(pair.remote),
                "state": pair.state.value if hasattr(pair.state, "value") else str(pair.state),
                "nominated": bool(pair.nominated),
                "priority": pair.priority,
                "requestsSent": pair.requests_sent,
                "requestsReceived": pair.requests_received,
                "responsesReceived": pair.responses_received,
            }
            if pair is selected:
                selected_id = pid
                report[pid]["packetsSent"] = core.packets_sent
                report[pid]["packetsReceived"] = core.packets_received
                report[pid]["bytesSent"] = core.bytes_sent
                report[pid]["bytesReceived"] = core.bytes_received
    # the transport
    transport: dict[str, Any] = {
        "id": _TRANSPORT,
        "type": "transport",
        "timestamp": ts,
        "packetsSent": core.packets_sent,
        "packetsReceived": core.packets_received,
        "bytesSent": core.bytes_sent,
        "bytesReceived": core.bytes_received,
        "dtlsState": core.dtls_state,
        "iceState": core.ice_connection_state,
        "localCertificateId": local_cert_id,
    }
    if agent is not None:
        transport["iceRole"] = "controlling" if agent.controlling else "controlled"
        transport["iceLocalUsernameFragment"] = agent.local_ufrag
    if selected_id is not None:
        transport["selectedCandidatePairId"] = selected_id
    if remote_cert_id is not None:
        transport["remoteCertificateId"] = remote_cert_id
    if core.dtls.is_established:
        suite = core.dtls.cipher_suite
        version = core.dtls.version
        transport["tlsVersion"] = f"{int(version):04X}" if version is not None else "FEFD"
        transport["dtlsRole"] = "client" if core.is_dtls_client else "server"
        if suite is not None:
            transport["dtlsCipher"] = "TLS_" + suite.name
        profile = core.dtls.srtp_profile
        if profile is not None:
            transport["srtpCipher"] = srtp_cipher_name(int(profile))
    report[_TRANSPORT] = transport
    # data channels
    for n, channel in enumerate(core.sctp.channels):
        wrapper = wrappers.get(id(channel))
        did = f"D{channel.id if channel.id is not None else n}"
        report[did] = {
            "id": did,
            "type": "data-channel",
            "timestamp": ts,
            "label": channel.label,
            "protocol": channel.protocol,
            "dataChannelIdentifier": channel.id,
            "state": channel.ready_state,
            "messagesSent": wrapper.messages_sent if wrapper else 0,
            "bytesSent": wrapper.bytes_sent if wrapper else 0,
            "messagesReceived": wrapper.messages_received if wrapper else 0,
            "bytesReceived": wrapper.bytes_received if wrapper else 0,
        }
    # RTP streams and codecs
    for tr in core.transceivers:
        ep = tr.endpoint
        if ep is None or tr.codec is None or tr.payload_type is None:
            continue
        codec_fields = {
            "payloadType": tr.payload_type,
            "mimeType": f"{tr.kind}/{tr.codec.name}",
            "clockRate": tr.codec.clock_rate,
            "channels": tr.codec.channels,
            "transportId": _TRANSPORT,
        }
        if ep.sender is not None:
            cid = f"COT01_{tr.payload_type}"
            report[cid] = {"id": cid, "type": "codec", "timestamp": ts, **codec_fields}
            oid = f"OT01A{ep.sender.ssrc}"
            s = ep.sender.stats
            report[oid] = {
                "id": oid,
                "type": "outbound-rtp",
                "timestamp": ts,
                "ssrc": ep.sender.ssrc,
                "kind": tr.kind,
                "mid": tr.mid,
                "transportId": _TRANSPORT,
                "codecId": cid,
                "packetsSent": s.packets_sent,
                "bytesSent": s.octets_sent,
                "retransmittedPacketsSent": s.retransmissions,
                "nackCount": s.nacks_received,
            }
            if s.round_trip_time is not None:
                report[oid]["roundTripTime"] = s.round_trip_time
            if tr.kind == "video":
                # pass-through: frames are sent as the application gave them
                report[oid].update(
                    framesSent=s.frames_sent,
                    pliCount=s.plis_received,
                    firCount=s.firs_received,
                )
        receiver = ep.receiver
        if receiver is not None and receiver.remote_ssrc is not None:
            cid = f"CIT01_{tr.payload_type}"
            report[cid] = {"id": cid, "type": "codec", "timestamp": ts, **codec_fields}
            iid = f"IT01A{receiver.remote_ssrc}"
            reception = receiver.reception
            report[iid] = {
                "id": iid,
                "type": "inbound-rtp",
                "timestamp": ts,
                "ssrc": receiver.remote_ssrc,
                "kind": tr.kind,
                "mid": tr.mid,
                "transportId": _TRANSPORT,
                "codecId": cid,
                "packetsReceived": receiver.stats.packets_received,
                "bytesReceived": reception.received_octets if reception else 0,
                "jitter": (reception.jitter / tr.codec.clock_rate) if reception else 0.0,
                "nackCount": receiver.stats.nacks_sent,
                "framesReceived": tr.received.frames,
            }
            if tr.kind == "video":
                # we do not decode: keyFramesReceived stands for keyFramesDecoded, and
                # the size is the one the last VP8 keyframe header announced
                report[iid].update(
                    keyFramesReceived=tr.received.keyframes,
                    pliCount=receiver.stats.plis_sent,
                    firCount=0,
                    packetsLost=reception.cumulative_lost if reception else 0,
                    retransmittedPacketsReceived=receiver.stats.rtx_received,
                )
                if tr.received.frame_width:
                    report[iid]["frameWidth"] = tr.received.frame_width
                    report[iid]["frameHeight"] = tr.received.frame_height
    return report


def _der(pem: bytes) -> bytes:
    body = b"".join(line for line in pem.splitlines() if line and not line.startswith(b"-----"))
    return base64.b64decode(body)
