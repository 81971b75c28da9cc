"""bench_interop.py's table: one markdown row per peer and message size, from the
medians of its repetitions (:data:`Row`), and the notes of the transfers that failed."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench_interop_link import Sample

#: One row's transfers: name → samples (one per repetition).
Row = dict[str, list["Sample"]]


def median_of(samples: list[Sample], what: str) -> float | None:
    """The median over the transfers that did not fail (None: none did, or no figure)."""
    values = [getattr(s, what) for s in samples if s.failure is None]
    if not values or any(v is None for v in values):
        return None
    return statistics.median(values)


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "–" if value is None else format(value, spec)


def ratio_cell(a: float | None, b: float | None) -> str:
    return "–" if a is None or not b else f"{a / b:.2f}×"


def rate_cell(samples: list[Sample]) -> str:
    """The median MB/s; "fail" when every repetition failed, a "*" when some did, "–"
    when none ran (``--peer-offers`` has no aiortc rows)."""
    if not samples:
        return "–"
    value = median_of(samples, "rate")
    if value is None:
        return "fail"
    return f"{value:.1f}" + ("*" if any(s.failure for s in samples) else "")


def failures(label: str, size: int, row: Row) -> list[str]:
    """One note per failed transfer of the row."""
    return [
        f"{label}, {size:,} B, {name.replace('->', ' → ').replace('p', 'peer', 1)}: {s.failure}"
        for name, samples in row.items()
        for s in samples
        if s.failure
    ]


def format_row(label: str, size: int, row: Row) -> str:
    r = {name: median_of(samples, "rate") for name, samples in row.items()}
    pus, usp = row["p->ours"], row["ours->p"]
    share = median_of(pus, "peer_share")
    ours_share = median_of(pus, "rate")
    ours_cpu = median_of(pus, "ours_cpu")
    # → itself in our process (aiortc, one process): both of its ends are our process's.
    self_cpu = median_of(row["p->self"], "peer_cpu") or median_of(row["p->self"], "ours_cpu")
    ours_pct = None if ours_share is None or ours_cpu is None else 100 * ours_share * ours_cpu
    cells = [
        label,
        f"{size:,}",
        rate_cell(row["p->ours"]),
        rate_cell(row["p->aiortc"]),
        rate_cell(row["p->self"]),
        ratio_cell(r["p->ours"], r["p->aiortc"]),
        ratio_cell(r["p->ours"], r["p->self"]),
        rate_cell(row["ours->p"]),
        rate_cell(row["aiortc->p"]),
        ratio_cell(r["ours->p"], r["aiortc->p"]),
        f"{fmt(ours_cpu, '.4f')} / {fmt(median_of(pus, 'peer_cpu'), '.4f')}",
        f"{fmt(ours_pct, '.0f')} / {fmt(None if share is None else 100 * share, '.0f')}",
        f"{fmt(median_of(usp, 'ours_cpu'), '.4f')} / {fmt(median_of(usp, 'peer_cpu'), '.4f')}",
        fmt(self_cpu, ".4f"),
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| peer | msg B | p→us | p→aiortc | p→self | p→us ÷ p→aiortc | p→us ÷ p→self "
    "| us→p | aiortc→p | us→p ÷ aiortc→p | p→us CPU s/MB us / p | p→us CPU % us / p "
    "| us→p CPU s/MB us / p | p→self CPU s/MB |\n" + "|---" * 14 + "|"
)


def third_row(label: str, size: int, row: Row) -> str:
    """``--third``: the peer's sender towards us, towards the third receiver and towards
    itself (medians), the ratios, and the CPU s/MB of the peer's processes in each and of
    the two receivers."""
    r = {name: median_of(samples, "rate") for name, samples in row.items()}
    pus, third = row["p->ours"], row["p->third"]
    cells = [
        label,
        f"{size:,}",
        rate_cell(pus),
        rate_cell(third),
        rate_cell(row["p->self"]),
        ratio_cell(r["p->ours"], r["p->third"]),
        ratio_cell(r["p->third"], r["p->self"]),
        f"{fmt(median_of(pus, 'peer_cpu'), '.4f')} / {fmt(median_of(third, 'peer_cpu'), '.4f')}",
        f"{fmt(median_of(pus, 'ours_cpu'), '.4f')} / {fmt(median_of(third, 'third_cpu'), '.4f')}",
    ]
    return "| " + " | ".join(cells) + " |"


THIRD_HEADER = (
    "| peer | msg B | p→us | p→third | p→self | p→us ÷ p→third | p→third ÷ p→self "
    "| peer's CPU s/MB →us / →third | receiver's CPU s/MB us / third |\n" + "|---" * 9 + "|"
)
