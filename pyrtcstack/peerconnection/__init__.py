"""The sans-I/O PeerConnection core composing every protocol module.

Not implemented yet: this package marks its place in the layout (see the open issues).
"""
