"""ICE (RFC 8445, trickle RFC 8838, consent RFC 7675): a sans-I/O agent.

Not implemented yet: this package marks its place in the layout (see the open issues).
"""
