"""Key reduction (core/retarget/key_reduction.py): every sample within the tolerance of the lines
between the keys kept, and few keys where the motion is still or straight."""

from __future__ import annotations

import numpy as np
import pytest

from core.retarget.key_reduction import linear_key_indices


def played(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    frames = np.arange(values.shape[0])
    return np.stack([np.interp(frames, keys, values[keys, c]) for c in range(values.shape[1])], axis=1)


@pytest.mark.parametrize("tolerance", [1e-5, 1e-4, 1e-3])
def test_every_dropped_sample_is_within_the_tolerance(tolerance: float) -> None:
    rng = np.random.default_rng(1)
    seconds = np.arange(3000) / 30.0
    strokes = np.stack([np.sin(2 * np.pi * 2.0 * seconds), np.cos(2 * np.pi * 0.3 * seconds)], axis=1)
    values = 0.3 * strokes + 1e-4 * rng.standard_normal(strokes.shape)
    keys = linear_key_indices(values, tolerance)
    assert keys[0] == 0 and keys[-1] == values.shape[0] - 1 and np.all(np.diff(keys) > 0)
    assert np.abs(played(values, keys) - values).max() <= tolerance + 1e-12


def test_a_larger_tolerance_keeps_fewer_keys() -> None:
    rng = np.random.default_rng(1)
    seconds = np.arange(3000) / 30.0
    strokes = np.stack([np.sin(2 * np.pi * 2.0 * seconds), np.cos(2 * np.pi * 0.3 * seconds)], axis=1)
    values = 0.3 * strokes + 1e-4 * rng.standard_normal(strokes.shape)
    counts = [linear_key_indices(values, tolerance).size for tolerance in (1e-5, 1e-4, 1e-3)]
    assert counts[0] >= counts[1] > counts[2]
    assert counts[1] < values.shape[0]  # keys a neighbour reproduces are dropped from 1e-4 on


def test_still_and_straight_stretches_keep_only_their_ends() -> None:
    values = np.concatenate([np.full(500, 0.2), np.linspace(0.2, 0.9, 300), np.full(400, 0.9)])
    np.testing.assert_array_equal(linear_key_indices(values, 1e-6), [0, 500, 799, 1199])  # the corners
    np.testing.assert_array_equal(linear_key_indices(np.full(10, 3.0), 1e-9), [0, 9])


def test_no_tolerance_and_short_curves_keep_every_key() -> None:
    values = np.random.default_rng(2).standard_normal((50, 4))
    np.testing.assert_array_equal(linear_key_indices(values, 0.0), np.arange(50))
    np.testing.assert_array_equal(linear_key_indices(values[:2], 0.1), [0, 1])
    np.testing.assert_array_equal(linear_key_indices(values[:1], 0.1), [0])


def test_keys_at_uneven_frames_follow_the_frames() -> None:
    """Keys every 3rd frame and the last (Keyframe Step 3): the lines run between frames, not
    list places, so the short last gap is judged as Blender plays it."""
    frames = np.array([0.0, 3.0, 6.0, 9.0, 10.0])
    values = np.array([0.0, 0.0, 0.0, 0.001, 0.002])
    keys = linear_key_indices(values, 1e-4, positions=frames)
    assert 3 in keys  # frame 9 is not on the line from frame 6 to frame 10
    rng = np.random.default_rng(4)
    for step in (2, 3, 5):
        frames = np.append(np.arange(0, 301, step), 301.0)
        values = np.cumsum(rng.standard_normal(frames.size)) * 1e-3
        keys = linear_key_indices(values, 1e-4, positions=frames)
        assert np.abs(np.interp(frames, frames[keys], values[keys]) - values).max() <= 1e-4 + 1e-12
