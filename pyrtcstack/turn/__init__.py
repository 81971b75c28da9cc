"""TURN (RFC 8656): a sans-I/O client allocation machine and a small server core.

Not implemented yet: this package marks its place in the layout (see the open issues).
"""
