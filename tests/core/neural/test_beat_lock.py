"""Beat lock (core/neural/beat_lock.py) on motions whose strokes are known: the level may change from
bar to bar, the frame-to-frame tremor of a network's motion survives the warp, and the pairs
of strokes and beats keep the stretch bound. The official generator's own case is in
test_beat_grid.py (it needs the parity checkpoint)."""

from __future__ import annotations

import numpy as np

from core.beats.grid import grid_from_times
from core.neural.beat_lock import (
    BATON_WRIST,
    LEVEL_CHANGE_COST,
    MAX_SHIFT_BEATS,
    bar_levels,
    beat_alignment,
    beats_at_level,
    ictus_times,
    lock_to_beats,
    pair_strokes_with_beats,
)

FPS = 30.0


def stroking(ictus_s: np.ndarray, duration_s: float, *, tremor: float = 0.0, seed: int = 0) -> np.ndarray:
    """Keypoints [T, 13, 2] whose baton wrist reaches the bottom of a stroke (largest image y)
    at each of ``ictus_s``, with frame-to-frame noise of ``tremor`` image units."""
    times_s = np.arange(int(duration_s * FPS)) / FPS
    phase = np.interp(times_s, ictus_s, np.arange(ictus_s.size), left=np.nan, right=np.nan)
    period = np.diff(ictus_s).mean()
    phase = np.where(np.isnan(phase) & (times_s < ictus_s[0]), (times_s - ictus_s[0]) / period, phase)
    phase = np.where(np.isnan(phase), ictus_s.size - 1 + (times_s - ictus_s[-1]) / period, phase)
    keypoints = np.zeros((times_s.size, 13, 2), dtype=np.float32)
    keypoints[:, BATON_WRIST, 1] = 0.5 + 0.1 * np.cos(2 * np.pi * phase)
    keypoints[:, BATON_WRIST, 0] = 0.4 + 0.05 * np.sin(2 * np.pi * phase)
    keypoints += tremor * np.random.default_rng(seed).standard_normal(keypoints.shape).astype(np.float32)
    return keypoints


def four_four_grid(bars: int, beat_s: float = 0.5):
    beats_s = 0.5 + beat_s * np.arange(4 * bars)
    return grid_from_times(beats_s, [str(k % 4 + 1) for k in range(beats_s.size)], duration_s=beats_s[-1] + 2.0)


def test_the_level_follows_the_strokes_from_bar_to_bar() -> None:
    """Eight bars stroked on every beat, then eight in two, each stroke up to 0.12 s off: the
    lock beats in 4, then in 2 from bar 8, and lands every stroke on a beat; one level for the
    whole piece would leave the beats of the second half unshown or strokes off the beat."""
    grid = four_four_grid(16)
    first_half = grid.beats_s[:32]
    second_half = grid.beats_s[32::2]
    offsets = np.random.default_rng(3).uniform(-0.12, 0.12, first_half.size + second_half.size)
    ictus = np.concatenate([first_half, second_half]) + offsets
    free = stroking(ictus, grid.beats_s[-1] + 0.4)
    locked, levels = lock_to_beats(free, grid, fps=FPS)
    assert levels == [(0, "beat"), (8, "half bar")]
    shown, found = beats_at_level(grid, levels), ictus_times(locked, fps=FPS)
    assert beat_alignment(shown, found) >= 0.95 and beat_alignment(found, shown) >= 0.95
    for level in ("beat", "half bar"):
        one_level = beats_at_level(grid, level)
        assert min(beat_alignment(one_level, found), beat_alignment(found, one_level)) < 0.8
    again, _ = lock_to_beats(free, grid, fps=FPS, level=levels)  # the levels given back lock the same
    np.testing.assert_array_equal(again, locked)


def test_a_short_change_is_not_worth_a_change_of_level() -> None:
    misses = np.zeros((3, 20))  # levels: every beat, the bar, the half bar
    misses[2, :] = 3.0  # the half bar is never right
    misses[1, :] = 1.0  # the bar misses a beat in every bar...
    misses[0, 5] = 1.5  # ...every beat misses more in one bar only: not worth two changes
    misses[0, 12:] = 2.0  # from bar 12 on, every beat misses two in every bar
    assert bar_levels(misses) == [(0, "beat"), (12, "bar")]
    assert bar_levels(np.zeros((3, 4))) == [(0, "beat")]
    assert LEVEL_CHANGE_COST > 1.0


def test_the_tremor_of_a_networks_motion_survives_the_warp() -> None:
    """A motion with frame-to-frame noise (most of the official generator's path length) keeps
    its mean speed and never moves further in a frame than it did: the gesture is warped, the
    tremor played from the nearest frame instead of being smoothed away between frames."""
    grid = four_four_grid(12)
    ictus = grid.beats_s + np.random.default_rng(5).uniform(-0.15, 0.15, grid.beats_s.size)
    free = stroking(ictus, grid.beats_s[-1] + 0.4, tremor=0.01)
    locked, levels = lock_to_beats(free, grid, fps=FPS)
    assert levels == [(0, "beat")]

    def speed(keypoints: np.ndarray) -> float:
        return float(np.linalg.norm(np.diff(keypoints[:, BATON_WRIST], axis=0), axis=1).mean())

    assert abs(speed(locked) / speed(free) - 1.0) < 0.05
    assert np.abs(np.diff(locked, axis=0)).max() <= np.abs(np.diff(free, axis=0)).max() + 1e-6
    found = ictus_times(locked, fps=FPS)
    assert beat_alignment(grid.beats_s, found) > beat_alignment(grid.beats_s, ictus_times(free, fps=FPS)) + 0.2


def test_pairs_are_in_order_near_their_beats_and_within_the_stretch() -> None:
    beats_s = np.arange(40) * 0.5
    ictus_s = np.sort(np.random.default_rng(8).uniform(0.0, 20.0, 45))
    strokes, beats = pair_strokes_with_beats(ictus_s, beats_s, stretch=1.6)
    assert strokes.size >= 10
    assert np.all(np.diff(strokes) > 0) and np.all(np.diff(beats) > 0)
    assert np.all(np.abs(ictus_s[strokes] - beats_s[beats]) <= MAX_SHIFT_BEATS * 0.5 + 1e-9)
    slopes = np.diff(beats_s[beats]) / np.diff(ictus_s[strokes])
    assert np.all((slopes >= 1 / 1.6 - 1e-9) & (slopes <= 1.6 + 1e-9))


def test_slow_beats_stroked_twice_are_divided() -> None:
    """A 4/4 at 50 a minute that the motion strokes twice a beat (as a conductor beats a slow
    4/4 in 8): the lock shows the beats and their halves, not every other stroke off the beat."""
    grid = four_four_grid(6, beat_s=1.2)
    halves = np.sort(np.concatenate([grid.beats_s, grid.beats_s[:-1] + 0.6]))
    ictus = halves + np.random.default_rng(4).uniform(-0.1, 0.1, halves.size)
    free = stroking(ictus, grid.beats_s[-1] + 0.3)
    locked, levels = lock_to_beats(free, grid, fps=FPS)
    assert levels == [(0, "division")]
    found = ictus_times(locked, fps=FPS)
    np.testing.assert_allclose(beats_at_level(grid, "division"), halves)
    assert beat_alignment(halves, found) >= 0.95 and beat_alignment(found, halves) >= 0.95
    assert beat_alignment(found, grid.beats_s) < 0.8  # half the strokes fall between beats


def test_a_stretch_without_beats_is_bridged() -> None:
    """Strokes on through a general pause (ten seconds with no beat): the pairs on both sides
    are kept, not only the longer side's."""
    strokes = np.arange(0, 40, 0.5) + 0.05
    beats = np.concatenate([np.arange(0, 10, 0.5), np.arange(20, 40, 0.5)])
    paired, _ = pair_strokes_with_beats(strokes, beats, stretch=2.5)
    assert strokes[paired].min() < 1.0 and strokes[paired].max() > 39.0 and paired.size == 60
