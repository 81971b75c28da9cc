"""RTP (RFC 3550) and RTCP packets, header extensions (RFC 8285).

Not implemented yet: this package marks its place in the layout (see the open issues).
"""
