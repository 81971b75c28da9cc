"""WebRTC data channels (RFC 8831) and DCEP (RFC 8832).

Not implemented yet: this package marks its place in the layout (see the open issues).
"""
