"""SDP (RFC 8866, RFC 8839) and JSEP offer/answer (RFC 9429, BUNDLE RFC 9143).

Not implemented yet: this package marks its place in the layout (see the open issues).
"""
