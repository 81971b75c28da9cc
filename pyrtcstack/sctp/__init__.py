"""SCTP (RFC 9260) over DTLS (RFC 8261): a sans-I/O association.

Not implemented yet: this package marks its place in the layout (see the open issues).
"""
