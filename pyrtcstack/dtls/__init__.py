"""DTLS 1.2 (RFC 6347) with DTLS-SRTP (RFC 5764), written on `cryptography`.

Not implemented yet: this package marks its place in the layout (see the open issues).
"""
