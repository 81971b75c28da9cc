"""Tools for testing sans-I/O cores without sockets or sleeping.

* :mod:`pyrtcstack.testing.pair` — :class:`~pyrtcstack.testing.pair.MemoryNetwork`, an
  in-memory network on a virtual clock with seeded loss, duplication, reordering and delay.
"""
