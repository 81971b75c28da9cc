"""Run the scenarios against a peer (one launch, many scenarios) and print the table.

::

    results = await run_peer("chromium")             # every default scenario
    print(format_table(results))

Each browser is also launched with DTLS 1.3 allowed on our side, and Firefox with its DTLS
version range forced (``media.peerconnection.dtls.version.min``/``.max``: 1.2 only, 1.3
only, and 1.3 only against our side limited to 1.2, which must fail cleanly); Chromium 156
has no ``WebRTC-ForceDtls13`` field trial any more. See :func:`default_plan`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..aio import serve_stun
from ..peerconnection import Settings
from .launchers import PeerProcess, launch, start_coturn
from .scenarios import CheckResult, ScenarioResult, apply_known_gaps, run_scenario, scenario_spec
from .session import PeerSession

__all__ = [
    "DTLS13_DISABLED",
    "DTLS13_ONLY",
    "FIREFOX_DTLS12_ONLY",
    "FIREFOX_DTLS13_ONLY",
    "LAUNCH_TIMEOUT",
    "Launch",
    "default_plan",
    "format_table",
    "loopback_settings",
    "pion_plan",
    "run_launch",
    "run_peer",
]

#: Seconds from starting a peer to its ``GET /config`` (Firefox takes 3-5 s here).
LAUNCH_TIMEOUT = 30.0
DTLS13_DISABLED = "WebRTC-ForceDtls13/Disabled/"
DTLS13_ONLY = "WebRTC-ForceDtls13/Only/"
#: Firefox's DTLS version range (``media.peerconnection.dtls.version.min``/``.max``:
#: 771 = 1.2, 772 = 1.3): forced to 1.2, and forced to 1.3 only.
FIREFOX_DTLS12_ONLY: dict[str, object] = {"media.peerconnection.dtls.version.max": 771}
FIREFOX_DTLS13_ONLY: dict[str, object] = {
    "media.peerconnection.dtls.version.min": 772,
    "media.peerconnection.dtls.version.max": 772,
}


@dataclass
class Launch:
    """One start of a peer and the scenarios it runs."""

    peer: str
    scenarios: list[dict[str, Any]]
    field_trials: str | None = None
    label: str = ""
    #: Firefox prefs added to the launch (the DTLS version range rows).
    prefs: dict[str, object] | None = None
    #: Our ``Settings.dtls_versions`` for this launch (None: the settings factory's).
    dtls_versions: tuple[str, ...] | None = None
    results: list[ScenarioResult] = field(default_factory=list)


def loopback_settings() -> Settings:
    return Settings(host_addresses=["127.0.0.1"], allow_loopback=True)


def default_scenarios(restart: bool = True, audio: bool = True) -> list[dict[str, Any]]:
    """Both roles, trickle (with ICE restart) and non-trickle (with PCMU audio both ways)."""
    name = "dc+restart" if restart else "dc"
    other = "dc+audio" if audio else "dc"
    return [
        scenario_spec(name, "we-offer", trickle=True, restart=restart),
        scenario_spec(name, "peer-offers", trickle=True, restart=restart),
        scenario_spec(other, "we-offer", trickle=False, audio=audio),
        scenario_spec(other, "peer-offers", trickle=False, audio=audio),
    ]


def default_plan(peer: str) -> list[Launch]:
    """One launch per peer running :func:`default_scenarios` with our default settings
    (DTLS 1.3 and 1.2 allowed: the browsers get 1.3, werift, 1.2 only, makes us fall back),
    plus the DTLS version rows: our side forced to 1.2 (every peer), and for Firefox its
    version range forced to 1.2, to 1.3 only, and 1.3 only against our side limited to 1.2
    (a clean failure). Each launch's label names its row.

    Chromium 156 no longer has the ``WebRTC-ForceDtls13`` field trial (its binary does not
    contain the name; with ``/Only/`` or ``/Disabled/`` it still offers DTLS 1.3 and 1.2),
    so there is no launch that forces Chromium's side: ``Launch(field_trials=...)`` and
    ``pyrtcstack interop --field-trials`` remain for builds that have it (docs/interop.md).
    """
    if peer == "pion":
        return pion_plan()
    if peer == "gstreamer":
        return gstreamer_plan()
    if peer == "janus":
        from .janus import janus_plan  # janus imports remote, which imports this module

        return [Launch("janus", janus_plan())]
    # Audio: the browsers send their fake microphone, werift a hand-built RTP tone.
    browser = peer != "werift"
    scenarios = default_scenarios(restart=True, audio=True)
    if browser:
        # Through coturn with the browser forced to iceTransportPolicy "relay".
        scenarios += [
            scenario_spec("dc+turn", "we-offer", relay=True),
            scenario_spec("dc+turn", "peer-offers", relay=True),
        ]
    plan = [Launch(peer, scenarios)]
    # Our side forced to DTLS 1.2 (Settings(dtls_versions=("1.2",))), as before 1.3 became
    # the default: data (and PCMU with the browsers) in both roles.
    forced12 = [
        scenario_spec("dc+audio" if browser else "dc", "we-offer", trickle=False, audio=browser),
        scenario_spec("dc+audio" if browser else "dc", "peer-offers", trickle=False, audio=browser),
    ]
    plan.append(Launch(peer, forced12, label="dtls1.2", dtls_versions=("1.2",)))
    if peer == "firefox":
        # DTLS version rows (RFC 9147): Firefox forced to 1.2 (we fall back), forced to
        # 1.3 only (we speak it), and forced to 1.3 only against our side limited to 1.2:
        # that one must fail cleanly (typed error, states "failed").
        dc = [scenario_spec("dc", "we-offer", trickle=False)]
        dc_both = [*dc, scenario_spec("dc", "peer-offers", trickle=False)]
        plan += [
            Launch(
                peer,
                dc_both,
                label="dtls1.2-only",
                prefs=FIREFOX_DTLS12_ONLY,
                dtls_versions=("1.3", "1.2"),
            ),
            Launch(
                peer,
                dc_both,
                label="dtls1.3-only",
                prefs=FIREFOX_DTLS13_ONLY,
                dtls_versions=("1.3", "1.2"),
            ),
            Launch(
                peer,
                [scenario_spec("dc", "we-offer", trickle=False, expect_failure=True)],
                label="dtls1.3-only-vs-our-1.2",
                prefs=FIREFOX_DTLS13_ONLY,
                dtls_versions=("1.2",),
            ),
        ]
    return plan


def pion_plan() -> list[Launch]:
    """Pion 3.1.56 (Go): both roles, trickle with ICE restart, non-trickle with PCMU audio
    both ways (its peer program sends a 440 Hz tone and measures the energy of ours), both
    roles through coturn with ``iceTransportPolicy: "relay"``. Pion speaks DTLS 1.2 only, so
    every default launch has our 1.3-capable side fall back; the ``[dtls1.2]`` launch forces
    our side to 1.2, as every peer's plan does."""
    scenarios = default_scenarios(restart=True, audio=True)
    scenarios += [
        scenario_spec("dc+turn", "we-offer", relay=True),
        scenario_spec("dc+turn", "peer-offers", relay=True),
    ]
    forced12 = [
        scenario_spec("dc", "we-offer", trickle=False),
        scenario_spec("dc", "peer-offers", trickle=False),
    ]
    return [
        Launch("pion", scenarios),
        Launch("pion", forced12, label="dtls1.2", dtls_versions=("1.2",)),
    ]


def gstreamer_plan() -> list[Launch]:
    """GStreamer webrtcbin 1.22 (libnice, OpenSSL, usrsctp): both roles, trickle and not,
    PCMU both ways, both roles through coturn with ``ice-transport-policy`` relay, Opus from
    webrtcbin (it offers, we answer Opus and receive); no ICE
    restart (webrtcbin 1.22 has none). Its OpenSSL speaks DTLS 1.2 only, so every default
    launch has our 1.3-capable side fall back; the ``[dtls1.2]`` launch forces our side to
    1.2, as every peer's plan does."""
    scenarios = [
        *default_scenarios(restart=False, audio=True),
        scenario_spec("dc+turn", "we-offer", relay=True),
        scenario_spec("dc+turn", "peer-offers", relay=True),
        # webrtcbin offers Opus (opusenc), we answer Opus and receive it (interop/opus.py).
        scenario_spec("dc+opus", "peer-offers", trickle=False, opus=True),
    ]
    forced12 = [
        scenario_spec("dc", "we-offer", trickle=False),
        scenario_spec("dc", "peer-offers", trickle=False),
    ]
    return [
        Launch("gstreamer", scenarios),
        Launch("gstreamer", forced12, label="dtls1.2", dtls_versions=("1.2",)),
    ]


async def run_launch(
    item: Launch,
    *,
    settings_factory: Callable[[], Settings] = loopback_settings,
    log_dir: str | None = None,
    verbose: Callable[[str], None] | None = None,
) -> list[ScenarioResult]:
    """Start the peer once, run its scenarios one after another, stop it."""
    log_dir = log_dir or tempfile.mkdtemp(prefix="pyrtcstack-interop-")
    factory = settings_factory
    if item.dtls_versions is not None:
        versions = item.dtls_versions

        def factory() -> Settings:
            return dataclasses.replace(settings_factory(), dtls_versions=versions)

    if item.peer == "janus":
        return await _run_janus_launch(item, factory, log_dir, verbose)
    stun = None
    if item.peer == "werift":
        # werift falls back to stun.l.google.com without a STUN server: give it ours.
        stun = await serve_stun(("127.0.0.1", 0))
    coturn = None
    if any(spec.get("relay") for spec in item.scenarios):
        coturn = await start_coturn()
        for spec in item.scenarios:
            if spec.get("relay"):
                spec["pcConfig"] = {
                    "iceServers": [
                        {"urls": coturn.url, "username": coturn.user, "credential": coturn.password}
                    ],
                    "iceTransportPolicy": "relay",
                }
    session = PeerSession(
        item.scenarios,
        stun=f"stun:127.0.0.1:{stun.addresses[0][1]}" if stun else None,
        gum_first=item.peer == "firefox",
    )
    url = await session.start()
    process: PeerProcess | None = None
    results: list[ScenarioResult] = []
    try:
        process = await launch(
            item.peer, url, log_dir=log_dir, field_trials=item.field_trials, prefs=item.prefs
        )
        try:
            async with asyncio.timeout(LAUNCH_TIMEOUT):
                await session.config_fetched.wait()
        except TimeoutError:
            raise RuntimeError(
                f"{item.peer} did not load the page within {LAUNCH_TIMEOUT:.0f} s:\n"
                + process.log_tail()
            ) from None
        for index in range(len(item.scenarios)):
            result = await run_scenario(session, index, item.peer, factory)
            if item.label:
                result.name = f"{result.name} [{item.label}]"
            results.append(result)
            if verbose:
                verbose(format_table([result]))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.done.wait(), 5.0)
    finally:
        if process is not None:
            await process.stop()
        await session.close()
        if stun is not None:
            stun.close()
        if coturn is not None:
            await coturn.stop()
    log_path = f"{log_dir}/{item.peer}{'-' + item.label if item.label else ''}-peer.log"
    with open(log_path, "w") as f:
        f.write("\n".join(session.peer_log) + "\n")
    for r in results:
        apply_known_gaps(r)
        if not r.ok:
            r.error = r.error or f"see {log_path}"
    item.results = results
    return results


async def _run_janus_launch(
    item: Launch,
    factory: Callable[[], Settings],
    log_dir: str,
    verbose: Callable[[str], None] | None,
) -> list[ScenarioResult]:
    """Janus is a server, not a page: :mod:`.janus` drives its echotest plugin."""
    from .janus import run_janus

    results = await run_janus(
        item.scenarios, settings_factory=factory, log_dir=log_dir, verbose=verbose
    )
    for r in results:
        if item.label:
            r.name = f"{r.name} [{item.label}]"
        apply_known_gaps(r)
    item.results = results
    return results


async def run_peer(peer: str, **kwargs: Any) -> list[ScenarioResult]:
    out: list[ScenarioResult] = []
    for item in default_plan(peer):
        out += await run_launch(item, **kwargs)
    return out


def _mark(check: CheckResult | None) -> str:
    if check is None:
        return "-"
    if check.ok is None:
        return check.detail.partition(":")[0] or "skip"
    return "pass" if check.ok else "FAIL"


def format_table(results: list[ScenarioResult]) -> str:
    """peer × role × scenario → pass/fail, DTLS version, cipher, SRTP profile, setup time."""
    rows = [("peer", "role", "scenario", "check", "result", "dtls", "cipher", "srtp", "setup")]
    for r in results:
        role = f"{r.role}{'' if r.trickle else ' (no trickle)'}"
        setup = f"{r.setup_time * 1000:.0f} ms" if r.setup_time is not None else "-"
        first = True
        checks = r.checks or [CheckResult("connect", False, r.error)]
        for c in checks:
            rows.append(
                (
                    r.peer if first else "",
                    role if first else "",
                    r.name if first else "",
                    c.name,
                    _mark(c)
                    + (
                        f": {c.detail.partition(': ')[2] or c.detail}"
                        if c.detail and not c.ok
                        else ""
                    ),
                    r.dtls_version if first else "",
                    r.cipher.removeprefix("TLS_") if first else "",
                    r.srtp if first else "",
                    setup if first else "",
                )
            )
            first = False
        if r.error and r.checks:
            rows.append(("", "", "", "error", r.error, "", "", "", ""))
    widths = [min(60, max(len(row[i]) for row in rows)) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell[:200].ljust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def summary(results: list[ScenarioResult]) -> tuple[int, int]:
    checks = [c for r in results for c in (r.checks or [CheckResult("connect", False)])]
    return sum(c.ok is True for c in checks), sum(c.ok is False for c in checks)


def now() -> float:
    return time.monotonic()
