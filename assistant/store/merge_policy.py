"""Which segments to merge: a tiered policy (as Lucene's ``TieredMergePolicy``), so the number of
segments stays logarithmic in the size of the index without anyone running ``--compact``.

A segment's *tier* is how many times ``per_tier`` fits between the floor and its live rows: tier 0
below ``floor × per_tier`` rows, tier 1 below ``floor × per_tier²``, and so on. When a tier holds
``per_tier`` segments, they are merged into one, which lands in a higher tier. Once no tier is
full, each of the ``tier(total) + 1`` tiers holds at most ``per_tier − 1`` segments: that is the
bound :func:`segment_bound` states. Every row is rewritten about ``log_per_tier(total / floor)``
times over the life of the index, so the merge work per added row is logarithmic too.

Example:
    >>> next_merge([60_000, 300, 200, 100, 50], floor=1000, per_tier=4)
    [1, 2, 3, 4]
    >>> next_merge([60_000, 300, 200], floor=1000, per_tier=4) is None
    True
"""

from __future__ import annotations

from collections.abc import Sequence


def tier(rows: int, *, floor: int, per_tier: int) -> int:
    """The tier of a segment with ``rows`` live rows."""
    t, limit = 0, floor * per_tier
    while rows >= limit:
        t, limit = t + 1, limit * per_tier
    return t


def next_merge(sizes: Sequence[int], *, floor: int, per_tier: int) -> list[int] | None:
    """The segments (indices into ``sizes``, live rows each) to merge next, or ``None`` when no
    tier is full: the ``per_tier`` smallest segments of the lowest full tier."""
    if per_tier < 2 or floor < 1:
        raise ValueError("a tiered merge policy needs per_tier >= 2 and floor >= 1")
    tiers: dict[int, list[int]] = {}
    for i, rows in enumerate(sizes):
        tiers.setdefault(tier(rows, floor=floor, per_tier=per_tier), []).append(i)
    for t in sorted(tiers):
        if len(tiers[t]) >= per_tier:
            return sorted(sorted(tiers[t], key=lambda i: (sizes[i], i))[:per_tier])
    return None


def segment_bound(total_rows: int, *, floor: int, per_tier: int) -> int:
    """The most segments an index of ``total_rows`` live rows keeps once :func:`next_merge` has nothing to do."""
    return (per_tier - 1) * (tier(total_rows, floor=floor, per_tier=per_tier) + 1)
