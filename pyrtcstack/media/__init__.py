"""Media: tracks, sans-I/O RTP senders and receivers, G.711, payload formats, a jitter
buffer, and recorders.

The pieces, bottom up (docs/media.md has the whole picture):

* :mod:`.g711` — PCMU/PCMA encode and decode in pure Python;
* :mod:`.payloads` — packetisers and depacketisers (G.711/Opus as-is, VP8 RFC 7741,
  H.264 RFC 6184);
* :mod:`.jitterbuffer` — re-ordering, frame assembly and loss detection, bounded;
* :mod:`.sender` / :mod:`.receiver` — frames ⇄ RTP with statistics and feedback;
* :mod:`.endpoint` — :class:`MediaEndpoint`, a datagram core with RTCP timers;
* :mod:`.sources` / :mod:`.ivf` / :mod:`.annexb` / :mod:`.ogg` / :mod:`.recorders` — tone,
  WAV, IVF, Annex B, Ogg Opus in; WAV, Ogg Opus, IVF, Annex B out.
"""

from __future__ import annotations

from .annexb import AnnexBTrack, split_access_units
from .codecs import H264, OPUS, PCMA, PCMU, VP8, Codec
from .endpoint import (
    ByeReceived,
    FrameReceived,
    KeyframeRequested,
    MediaEndpoint,
    ReportReceived,
    TrackEnded,
)
from .errors import DepacketizeError, MediaFormatError, MediaUsageError
from .frames import AudioFrame, EncodedFrame
from .g711 import alaw_encode, ulaw_encode
from .ivf import IvfTrack, parse_ivf
from .jitterbuffer import JitterBuffer
from .live import LIVE_QUEUE_FRAMES, LiveTrack
from .ogg import OggOpusTrack, parse_ogg_opus
from .receiver import RtpReceiver
from .recorders import (
    AnnexBWriter,
    IvfWriter,
    OggOpusWriter,
    WavRecorder,
    opus_packet_samples,
    vp8_keyframe_size,
)
from .sender import RtpSender
from .sources import NOT_YET, EncodedTrack, G711Track, NotYet, ToneSource, Track, WavSource

__all__ = [
    "H264",
    "LIVE_QUEUE_FRAMES",
    "NOT_YET",
    "OPUS",
    "PCMA",
    "PCMU",
    "VP8",
    "AnnexBTrack",
    "AnnexBWriter",
    "AudioFrame",
    "ByeReceived",
    "Codec",
    "DepacketizeError",
    "EncodedFrame",
    "EncodedTrack",
    "FrameReceived",
    "G711Track",
    "IvfTrack",
    "IvfWriter",
    "JitterBuffer",
    "KeyframeRequested",
    "LiveTrack",
    "MediaEndpoint",
    "MediaFormatError",
    "MediaUsageError",
    "NotYet",
    "OggOpusTrack",
    "OggOpusWriter",
    "ReportReceived",
    "RtpReceiver",
    "RtpSender",
    "ToneSource",
    "Track",
    "TrackEnded",
    "WavRecorder",
    "WavSource",
    "alaw_encode",
    "opus_packet_samples",
    "parse_ivf",
    "parse_ogg_opus",
    "split_access_units",
    "ulaw_encode",
    "vp8_keyframe_size",
]
