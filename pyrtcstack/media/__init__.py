"""Media tracks, senders and receivers, G.711, depacketisers, recorders.

Not implemented yet: this package marks its place in the layout (see the open issues).
"""
