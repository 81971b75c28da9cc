"""STUN (RFC 8489): message codec, integrity, sans-I/O transactions, a server core.

Not implemented yet: this package marks its place in the layout (see the open issues).
"""
