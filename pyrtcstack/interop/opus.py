"""Opus audio from a peer (RFC 7587), for the peers that can send it (GStreamer webrtcbin).

We have no Opus encoder or decoder: our side asks for Opus with ``set_codec_preferences``
on the audio transceiver the peer's offer made (W3C setCodecPreferences, before our
answer), receives the packets as they are, writes them to an Ogg Opus file
(:class:`~pyrtcstack.media.OggOpusWriter`, RFC 7845), and ffmpeg (Debian ``ffmpeg``, an
independent decoder) decodes that file to PCM, where the check looks for sound.
"""

from __future__ import annotations

import array
import asyncio
import os
import shutil
import tempfile
from typing import Any

from ..media import EncodedFrame, OggOpusWriter
from ..sdp import CodecCapability

__all__ = ["OPUS_PREFERENCE", "check_opus_frames", "prefer_opus"]

#: What we ask the audio transceiver for (RFC 7587 §7: always opus/48000/2).
OPUS_PREFERENCE = [CodecCapability("opus", 48000, 2)]
#: Seconds of the peer's Opus audio checked.
OPUS_SECONDS = 1.5
#: Seconds ffmpeg may take to decode them.
DECODE_TIMEOUT = 20.0


def prefer_opus(pc: Any) -> int:
    """Opus on every audio transceiver (after the peer's offer, before our answer);
    returns how many."""
    count = 0
    for transceiver in pc.get_transceivers():
        if transceiver.kind == "audio":
            transceiver.set_codec_preferences(list(OPUS_PREFERENCE))
            count += 1
    return count


async def check_opus_frames(frames: list[EncodedFrame], codec_name: str | None) -> str:
    """'' when the frames are Opus, last ≥ 90 % of OPUS_SECONDS once decoded by ffmpeg
    and are not silence (peak ≥ 1000); otherwise what is wrong."""
    if (codec_name or "").lower() != "opus":
        return f"codec {codec_name}, expected opus"
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return "ffmpeg not found (Debian package 'ffmpeg') to decode the Opus audio"
    with tempfile.TemporaryDirectory(prefix="pyrtcstack-opus-") as folder:
        ogg = os.path.join(folder, "from-peer.opus")
        writer = OggOpusWriter(ogg)
        for frame in frames:
            writer.write(frame)
        writer.close()
        process = await asyncio.create_subprocess_exec(
            ffmpeg, "-v", "error", "-i", ogg, "-f", "s16le", "-ac", "1", "-ar", "48000", "-",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            pcm, err = await asyncio.wait_for(process.communicate(), DECODE_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            return f"ffmpeg did not decode within {DECODE_TIMEOUT:.0f} s"
    if process.returncode != 0:
        return f"ffmpeg: {err.decode(errors='replace').strip()[:200]}"
    samples = array.array("h", pcm[: len(pcm) // 2 * 2])
    duration = len(samples) / 48000
    peak = max((abs(x) for x in samples), default=0)
    if duration < OPUS_SECONDS * 0.9:
        return f"{duration:.2f} s decoded from {len(frames)} packets"
    if peak < 1000:
        return f"silence: peak amplitude {peak} in {duration:.2f} s"
    return ""
