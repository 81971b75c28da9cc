""":class:`SessionDescription` → SDP text (RFC 8866 §5 order, CRLF line endings)."""

from __future__ import annotations

from pyrtcstack.sdp.model import SessionDescription

__all__ = ["write_session"]


def write_session(desc: SessionDescription) -> str:
    """Write ``desc``; parsing the result gives an equal model, and writing is a fixed point."""
    out = [f"v={desc.version}", f"o={desc.origin}", f"s={desc.session_name}"]
    append = out.append
    if desc.information is not None:
        append(f"i={desc.information}")
    if desc.uri is not None:
        append(f"u={desc.uri}")
    out.extend(f"e={e}" for e in desc.emails)
    out.extend(f"p={p}" for p in desc.phones)
    if desc.connection is not None:
        append(f"c={desc.connection}")
    out.extend(f"b={b}" for b in desc.bandwidths)
    for t in desc.timings:
        append(f"t={t.start} {t.stop}")
        out.extend(f"r={r}" for r in t.repeats)
    if desc.time_zones is not None:
        append(f"z={desc.time_zones}")
    if desc.key is not None:
        append(f"k={desc.key}")
    for a in desc.attributes:
        append(f"a={a.name}" if a.value is None else f"a={a.name}:{a.value}")
    for m in desc.media:
        port = m.port if m.port_count is None else f"{m.port}/{m.port_count}"
        append(" ".join([f"m={m.kind} {port} {m.protocol}", *m.formats]))
        if m.information is not None:
            append(f"i={m.information}")
        out.extend(f"c={c}" for c in m.connections)
        out.extend(f"b={b}" for b in m.bandwidths)
        if m.key is not None:
            append(f"k={m.key}")
        for a in m.attributes:
            append(f"a={a.name}" if a.value is None else f"a={a.name}:{a.value}")
    append("")
    return "\r\n".join(out)
