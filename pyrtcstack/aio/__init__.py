"""asyncio adapters: the only place in pyrtcstack that owns sockets, timers and the clock.

Every adapter follows one pattern (:class:`~pyrtcstack.aio.endpoint.CoreEndpoint`): one
datagram socket, one sans-I/O core, one timer handle re-armed from ``core.get_timer()``
after every mutation.
"""

from .endpoint import CoreEndpoint, CoreTimer, open_endpoint

__all__ = ["CoreEndpoint", "CoreTimer", "open_endpoint"]
