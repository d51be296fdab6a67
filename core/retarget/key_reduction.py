"""Fewer keys for the same motion: the keys that linear interpolation between their neighbours
reproduces within a tolerance are dropped.

A conductor keyed on every frame of a 2-hour concert is 13 million keyframes, about 1 GB in
Blender (87 bytes a key) and as much again for the evaluated copy a render makes. The torso and
the left arm move slowly and the wrist quickly; a tolerance of 1e-4 (a quaternion component,
about 0.01 degrees; or 0.1 mm) keeps about 40 % of the keys of a procedural conductor, every
dropped frame still within the tolerance of the motion as generated.
"""

from __future__ import annotations

import numpy as np


def linear_key_indices(values: np.ndarray, tolerance: float, positions: np.ndarray | None = None) -> np.ndarray:
    """The samples to key so that linear interpolation between them stays within ``tolerance``
    of every sample, in every column.

    Keys are dropped in rounds: a key goes when the line between its two neighbours passes
    within ``tolerance`` of all the samples it spans (never two neighbours in one round); a key
    that cannot go is kept for good. Each round costs one pass over the samples, and there are
    about log2(longest run of droppable keys) rounds.

    Parameters
    ----------
    values : np.ndarray [shape=(N,) or (N, C)]
        Samples at consecutive key positions; with several columns, the keys they all need
        (a channel alone needs fewer: Blender keys each channel on its own F-Curve).
    tolerance : float >= 0
        Largest difference allowed at a dropped sample; 0 keeps every sample.
    positions : np.ndarray [shape=(N,)] or None
        Where the samples lie (the frames of the keys, increasing), which the lines between
        keys follow; None: 0, 1, 2, ...

    Returns
    -------
    np.ndarray [shape=(K,), int64]
        Increasing indices into ``values``; always the first and the last.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values.reshape(values.shape[0], -1)
    count = values.shape[0]
    where = np.arange(count, dtype=np.float64) if positions is None else np.asarray(positions, dtype=np.float64)
    keys = np.arange(count, dtype=np.int64)
    if tolerance <= 0 or count <= 2:
        return keys
    if _largest_error(values, where, before=keys[:1], after=keys[-1:])[0] <= tolerance:
        return keys[[0, -1]]  # a still bone: one line from end to end
    may_go = np.ones(count, dtype=bool)  # per current key; the ends always stay
    may_go[[0, -1]] = False
    while True:
        inner = np.flatnonzero(may_go)
        if inner.size == 0:
            return keys
        before, after = keys[inner - 1], keys[inner + 1]
        within = _largest_error(values, where, before=before, after=after) <= tolerance
        may_go[inner[~within]] = False
        if not within.any():
            return keys
        # Of neighbouring keys that could go, every other one goes (each was tested with both
        # its neighbours in place).
        candidates = inner[within]
        follows = np.concatenate([[False], np.diff(candidates) == 1])
        run_start = np.maximum.accumulate(np.where(follows, 0, np.arange(candidates.size)))
        going = candidates[(np.arange(candidates.size) - run_start) % 2 == 0]
        keep = np.ones(keys.size, dtype=bool)
        keep[going] = False
        keys, may_go = keys[keep], may_go[keep]


def _largest_error(values: np.ndarray, where: np.ndarray, *, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """For each span (before[k], after[k]), the largest difference between the samples strictly
    inside it and the line from ``values[before[k]]`` to ``values[after[k]]`` (the samples at
    ``where``), over all columns."""
    inside = after - before - 1
    total = int(inside.sum())
    starts = np.cumsum(inside) - inside  # where each span's samples begin in the flat arrays
    span = np.repeat(np.arange(before.size), inside)
    offset = np.arange(total) - np.repeat(starts, inside)  # 0, 1, ... within each span
    sample = before[span] + 1 + offset
    share = ((where[sample] - where[before[span]]) / (where[after] - where[before])[span])[:, None]
    line = values[before[span]] * (1.0 - share) + values[after[span]] * share
    error = np.abs(line - values[sample]).max(axis=1)
    return np.maximum.reduceat(error, starts) if total else np.zeros(before.size)
