"""SRTP/SRTCP sessions (RFC 3711, RFC 7714) through `pylibsrtp`.

Not implemented yet: this package marks its place in the layout (see the open issues).
"""
