"""RTP (RFC 3550) and RTCP packets, header extensions (RFC 8285), feedback (RFC 4585,
RFC 5104) and reception statistics (RFC 3550 Appendix A).

Pure codecs and bookkeeping: nothing here does I/O or keeps time. See docs/rtp.md.
"""

from __future__ import annotations

from .describe import describe, stream_label
from .errors import RtcpParseError, RtpParseError, RtpUsageError
from .extensions import ExtensionMap
from .feedback import (
    FirEntry,
    FullIntraRequest,
    GenericNack,
    PictureLossIndication,
    ReceiverEstimatedMaxBitrate,
    RtcpFeedback,
    TransportWideCc,
)
from .packet import RtpPacket
from .rtcp import (
    SDES_CNAME,
    ReportBlock,
    RtcpApp,
    RtcpBye,
    RtcpPacket,
    RtcpReceiverReport,
    RtcpSdes,
    RtcpSenderReport,
    RtcpUnknown,
    SdesChunk,
    parse_rtcp,
    serialize_rtcp,
)
from .stats import ReceptionStatistics, ntp_middle32, ntp_timestamp
from .twcc import TwccFeedbackBuilder

__all__ = [
    "SDES_CNAME",
    "ExtensionMap",
    "FirEntry",
    "FullIntraRequest",
    "GenericNack",
    "PictureLossIndication",
    "ReceiverEstimatedMaxBitrate",
    "ReceptionStatistics",
    "ReportBlock",
    "RtcpApp",
    "RtcpBye",
    "RtcpFeedback",
    "RtcpPacket",
    "RtcpParseError",
    "RtcpReceiverReport",
    "RtcpSdes",
    "RtcpSenderReport",
    "RtcpUnknown",
    "RtpPacket",
    "RtpParseError",
    "RtpUsageError",
    "SdesChunk",
    "TransportWideCc",
    "TwccFeedbackBuilder",
    "describe",
    "ntp_middle32",
    "ntp_timestamp",
    "parse_rtcp",
    "serialize_rtcp",
    "stream_label",
]
