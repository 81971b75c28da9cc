"""Whether objects are freed by reference counting alone, without the cyclic collector.

A test names the objects that must go (:meth:`Watch.add`), runs with the collector off
(:func:`collector_off`), drops its own references and calls :meth:`Watch.assert_freed`,
which checks two things:

1. each named object's weak reference is dead at once: with the collector off only
   reference counting can have freed it (nothing is collected for this check);
2. then, for the objects that cannot be weakly referenced (most of our classes have
   ``__slots__`` without ``__weakref__``): one collection with ``gc.DEBUG_SAVEALL``, which
   keeps what it finds unreachable in ``gc.garbage`` instead of freeing it, must find no
   object of ours (a class from ``pyrtcstack``). What else it finds (asyncio's own cycles,
   a library's) is not ours and not counted, so a new asyncio or an import cannot disturb
   the test.

On failure the message names every survivor and what refers to it (``gc.get_referrers``,
which walks the tracked containers and collects nothing), with the attribute or key that
holds it, and the objects of ours found in cycles by type.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["Watch", "collector_off"]


@contextmanager
def collector_off() -> Iterator[None]:
    """The cyclic collector disabled for the block (and enabled again after, if it was):
    an object freed in the block was freed by reference counting. What earlier code left
    in cycles is collected first, so that what :meth:`Watch.assert_freed` finds in cycles
    was made unreachable in the block."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Watch:
    """Weak references to named objects that must be freed by reference counting."""

    def __init__(self) -> None:
        self._refs: dict[str, weakref.ref[Any]] = {}

    def add(self, name: str, obj: object) -> None:
        self._refs[name] = weakref.ref(obj)

    def survivors(self) -> list[str]:
        """The names of the watched objects still alive."""
        return [name for name, ref in self._refs.items() if ref() is not None]

    def assert_freed(self, allow: tuple[type, ...] = ()) -> None:
        """Every watched object is gone, and no object of ours is left in a cycle but
        those of the types ``allow``: kept on purpose by something not ours (e.g. the
        event loop, whose own cycles the collector frees; what they hold of ours is
        still counted)."""
        alive = self.survivors()
        report = self._describe(alive) if alive else []
        cyclic = _cyclic_garbage_of_ours(allow)  # after the survivors' verdict: it collects
        if cyclic:
            counts: dict[str, int] = {}
            for line in cyclic:
                counts[line] = counts.get(line, 0) + 1
            report.append(f"objects of ours only the cyclic collector would free: {counts}")
        if report:
            raise AssertionError("\n".join(report))

    def _describe(self, alive: list[str]) -> list[str]:
        watched = {id(ref()): name for name, ref in self._refs.items() if ref() is not None}
        lines = [f"still alive (a reference cycle, or a reference kept): {', '.join(alive)}"]
        for name in alive:
            obj = self._refs[name]()
            lines.append(f"  {name} ({type(obj).__qualname__}) is referred to by:")
            for referrer in gc.get_referrers(obj):
                if isinstance(referrer, FrameType) or referrer is lines:
                    continue
                lines.append(f"    {_holder(referrer, obj, watched)}")
            del obj
        return lines


def _cyclic_garbage_of_ours(allow: tuple[type, ...]) -> list[str]:
    """The types of the objects of ours (but ``allow``'s) that one collection finds
    unreachable (kept in ``gc.garbage`` by ``DEBUG_SAVEALL``, then let go)."""
    flags = gc.get_debug()
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = [
            f"{type(o).__module__}.{type(o).__qualname__}"
            for o in gc.garbage
            if type(o).__module__.startswith("pyrtcstack.") and not isinstance(o, allow)
        ]
    finally:
        gc.set_debug(flags)
        gc.garbage.clear()
    return found


def _holder(referrer: object, obj: object, watched: dict[int, str]) -> str:
    """What ``referrer`` is, and where in it ``obj`` sits."""
    if isinstance(referrer, dict):
        keys = [repr(k) for k, v in referrer.items() if v is obj] or ["?"]
        owner = next(
            (c for c in gc.get_referrers(referrer) if getattr(c, "__dict__", None) is referrer),
            None,
        )
        where = "a dict" if owner is None else f"{_label(owner, watched)}.__dict__"
        return f"{where}[{', '.join(keys)}]"
    if isinstance(referrer, list | tuple):
        return f"a {type(referrer).__qualname__} of {len(referrer)}"
    # An object that holds it in an attribute (its __dict__, inline, or a slot).
    names = [k for k, v in getattr(referrer, "__dict__", {}).items() if v is obj]
    names += [
        s
        for cls in type(referrer).__mro__
        for s in getattr(cls, "__slots__", ())
        if isinstance(s, str) and getattr(referrer, s, None) is obj
    ]
    label = _label(referrer, watched)
    return f"{label}.{names[0]}" if names else label


def _label(obj: object, watched: dict[int, str]) -> str:
    """A watched object's name, or its type."""
    name = watched.get(id(obj))
    return name if name is not None else f"a {type(obj).__qualname__}"
