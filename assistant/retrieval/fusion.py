"""Fusion as pure functions over candidate arrays: standardise each channel, weigh, add bonuses.

Each channel's scores are standardised (z-scores over the union of all channels' candidates; a
chunk a channel did not return gets that channel's floor) and summed with weights that depend on
the question's language. Standardising keeps a channel's confidence (a clear BM25 winner stays
clear) where rank fusion would flatten it.

Example:
    >>> import numpy as np
    >>> from assistant.types import Candidates
    >>> a = Candidates("dense", np.array([1, 2, 3]), np.array([0.9, 0.5, 0.8]))
    >>> b = Candidates("bm25", np.array([3]), np.array([7.0]), floor=0.0)
    >>> keys = union([a, b])
    >>> fused, parts = fuse({"dense": a, "bm25": b}, keys, {"dense": 1.0, "bm25": 1.0})
    >>> keys[np.argmax(fused)].item()   # second in dense, but the only BM25 match
    3
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from assistant.types import Candidates


def union(candidates: Sequence[Candidates], extra: np.ndarray | None = None) -> np.ndarray:
    """Every chunk key any channel returned (and ``extra``), sorted."""
    parts = [c.keys for c in candidates]
    if extra is not None:
        parts.append(extra)
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def align(c: Candidates, keys: np.ndarray) -> np.ndarray:
    """The channel's score for each of ``keys`` (its floor where it returned none)."""
    floor = c.floor if c.floor is not None else (float(c.scores.min()) if len(c.scores) else 0.0)
    out = np.full(len(keys), floor, dtype=np.float64)
    if len(c.keys):
        order = np.argsort(c.keys)
        at = np.searchsorted(c.keys[order], keys)
        at = np.minimum(at, len(c.keys) - 1)
        hit = c.keys[order][at] == keys
        out[hit] = c.scores[order][at[hit]]
    return out


def standardise(values: np.ndarray) -> np.ndarray:
    """z-scores (all zero when the values do not vary)."""
    if not len(values):
        return values
    std = values.std()
    return (values - values.mean()) / std if std > 1e-9 else np.zeros_like(values)


def fuse(
    channels: Mapping[str, Candidates], keys: np.ndarray, weights: Mapping[str, float]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The weighted sum of standardised channel scores over ``keys``, and each channel's z-scores."""
    fused = np.zeros(len(keys))
    parts = {}
    for name, c in channels.items():
        parts[name] = standardise(align(c, keys))
        fused += weights.get(name, 0.0) * parts[name]
    return fused, parts


def channel_weights(
    language: str, names: Sequence[str], configured: Mapping[str, Mapping[str, float]], *, mode: str, by_language: bool
) -> dict[str, float]:
    """The weight of each channel for a question: the tuned weights of its language in hybrid mode,
    1 for every channel in ``dense`` / ``bm25`` mode or with language weights off."""
    if mode != "hybrid" or not by_language:
        return dict.fromkeys(names, 1.0)
    return {n: configured.get(language, {}).get(n, 0.0) for n in names}


def add_bonus(fused: np.ndarray, keys: np.ndarray, bonus_keys: np.ndarray, amount: float | np.ndarray) -> None:
    """Add ``amount`` to the fused score of each of ``bonus_keys`` found in ``keys`` (in place)."""
    if not len(bonus_keys):
        return
    at = np.searchsorted(keys, bonus_keys)
    at = np.minimum(at, len(keys) - 1)
    hit = keys[at] == bonus_keys
    amounts = np.broadcast_to(np.asarray(amount, dtype=np.float64), bonus_keys.shape)
    np.add.at(fused, at[hit], amounts[hit])
