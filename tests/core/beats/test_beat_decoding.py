"""core/beats/decoding.py on activations built here: the beat-pointer HMM recovers a grid with a
tempo change, a meter change and a fermata exactly; the bar-pointer HMM re-derives bars from
given beats; the conducted level; long pieces in windows; activations without beats."""

from __future__ import annotations

import numpy as np
import pytest

from core.beats import decoding as beat_decoding
from core.beats.activations import FRAME_RATE_HZ as FPS
from core.beats.decoding import bars_from_beats, conducted_grid, conducting_level, decode_beats
from core.beats.learned_tracker import track_from_activations
from core.beats.track import local_tempo_bpm


def grid_with_changes() -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Beats (s), which are downbeats, and each bar's meter: 8 bars of 4/4 at 100 bpm with a
    fermata (the last beat of bar 6 held 2.5 beats), then 8 bars of 3/4 speeding up to 140 bpm."""
    beats, downbeat, meters, time_s, bpm = [], [], [], 1.0, 100.0
    for bar in range(16):
        meter = 4 if bar < 8 else 3
        meters.append(meter)
        for k in range(meter):
            beats.append(time_s)
            downbeat.append(k == 0)
            time_s += 60.0 / bpm * (2.5 if (bar == 5 and k == 3) else 1.0)
        if bar >= 8:
            bpm = min(140.0, bpm + 5.0)
    return np.array(beats), np.array(downbeat), meters


def activation_at(times_s: np.ndarray, frames: int, *, peak: float = 0.9, floor: float = 0.001) -> np.ndarray:
    """A network-like activation: ``peak`` on each time's frame, half of it beside, ``floor`` elsewhere."""
    activation = np.full(frames, floor)
    for time_s in times_s:
        frame = int(round(time_s * FPS))
        activation[max(0, frame - 1) : frame + 2] = np.maximum(activation[max(0, frame - 1) : frame + 2], peak / 2)
        activation[frame] = peak
    return activation


def test_the_grid_is_recovered_exactly_through_tempo_change_meter_change_and_fermata():
    beats_s, downbeat, meters = grid_with_changes()
    frames = int((beats_s[-1] + 2.0) * FPS)
    path = decode_beats(activation_at(beats_s, frames), FPS)
    assert np.array_equal(path.frames, np.round(beats_s * FPS).astype(int))
    assert path.held[int(np.flatnonzero(np.diff(beats_s) > 1.0)[0])]  # the fermata is a hold
    tempo_bpm = local_tempo_bpm(path.frames / FPS)
    assert tempo_bpm[-1] > 125.0  # follows the accelerando to 140 (a median of nine intervals lags it a little)
    assert tempo_bpm[20:30] == pytest.approx(100.0, rel=0.03)  # the fermata keeps the tempo
    bars = bars_from_beats(path.frames / FPS, downbeat_activation=activation_at(beats_s[downbeat], frames), fps=FPS)
    assert np.array_equal(bars.downbeats, np.flatnonzero(downbeat))
    assert bars.bar_meters.tolist() == meters


def test_silence_and_noise_give_no_beats_and_never_nan():
    assert decode_beats(np.full(3000, 0.001), FPS).frames.size == 0
    rng = np.random.default_rng(0)
    noisy = decode_beats(rng.uniform(0.0, 0.01, 3000), FPS)  # a network's output with no music to follow
    assert noisy.frames.size == 0
    assert decode_beats(np.zeros(0), FPS).frames.size == 0
    with_nan = np.full(500, 0.01)
    with_nan[100:110] = np.nan
    assert decode_beats(with_nan, FPS).frames.size == 0
    track = track_from_activations(np.zeros((10, 3), np.float32))
    assert track.beats_s.size == 0 and track.tempo_bpm == 0.0


def test_a_single_click_is_at_most_one_beat():
    activation = np.full(2000, 0.001)
    activation[900] = 0.95
    path = decode_beats(activation, FPS)
    assert path.frames.tolist() in ([], [900])


def test_long_pieces_are_decoded_in_windows_that_join_without_a_seam(monkeypatch):
    monkeypatch.setattr(beat_decoding, "WINDOW_S", 60.0)
    monkeypatch.setattr(beat_decoding, "OVERLAP_S", 20.0)
    beats_s = np.cumsum(np.full(400, 0.52))  # 3.5 minutes at 115 bpm: four windows
    frames = int((beats_s[-1] + 1.0) * FPS)
    path = decode_beats(activation_at(beats_s, frames), FPS)
    assert np.array_equal(path.frames, np.round(beats_s * FPS).astype(int))


def test_bars_of_edited_beats_follow_the_downbeat_activation_or_a_given_meter():
    beats_s = np.arange(40) * 0.5 + 0.25
    downbeats = np.r_[np.arange(0, 12, 3), np.arange(12, 40, 4)]  # 4 bars of 3, then of 4
    frames = int(21 * FPS)
    bars = bars_from_beats(beats_s, downbeat_activation=activation_at(beats_s[downbeats], frames), fps=FPS)
    assert bars.downbeats.tolist() == downbeats.tolist()
    assert bars.bar_meters.tolist() == [3] * 4 + [4] * 7
    # A beat deleted in the second bar: that bar now has two beats, the others keep theirs (for
    # beats a user edits, meter changes are made likelier than for tracked ones).
    edited = np.delete(beats_s, 4)
    bars = bars_from_beats(
        edited, downbeat_activation=activation_at(beats_s[downbeats], frames), fps=FPS, meter_change=0.1
    )
    assert bars.bar_meters.tolist() == [3, 2, 3, 3] + [4] * 7
    # No activation: the meter given, counted from the first beat.
    plain = bars_from_beats(beats_s[:12], meters=(3,))
    assert plain.bar_position.tolist() == [0, 1, 2] * 4 and plain.bar_number.tolist() == np.repeat(range(4), 3).tolist()
    assert bars_from_beats(np.zeros(0)).downbeats.size == 0


def test_the_conducted_level():
    assert conducting_level(240.0, 3, False) == "bar"  # a fast 3/4 in one
    assert conducting_level(220.0, 4, False) == "half bar"  # a fast 4/4 in two
    assert conducting_level(90.0, 2, True) == "beat"  # a 6/8 in two
    assert conducting_level(45.0, 2, True) == "division"  # a slow 6/8 in six
    assert conducting_level(100.0, 3, False) == "beat"
    beats_s = np.arange(12) * 0.25
    three = bars_from_beats(beats_s, meters=(3,))
    in_one = conducted_grid(beats_s, three, "bar")
    assert np.allclose(in_one.beats_s, beats_s[::3]) and in_one.bar_meters.tolist() == [1] * 4
    two = bars_from_beats(np.arange(8) * 1.2, meters=(2,))
    in_six = conducted_grid(np.arange(8) * 1.2, two, "division")
    assert np.allclose(np.diff(in_six.beats_s), 0.4) and in_six.bar_meters.tolist() == [6] * 4
    assert in_six.bar_position.tolist() == list(range(6)) * 4


def test_a_fast_waltz_is_tracked_in_one_with_its_tempo_curve():
    beats_s = 0.5 + np.arange(90) * 0.25  # quarters at 240 a minute, 3/4
    frames = int((beats_s[-1] + 1.0) * FPS)
    activations = np.stack(
        [
            activation_at(beats_s, frames),
            activation_at(beats_s[::3], frames),
            activation_at(beats_s[:-1] + 0.125, frames),
        ],
        axis=1,
    )
    track = track_from_activations(activations)
    assert track.level == "bar" and track.meter == 1 and track.notated_meter == 3
    assert np.allclose(track.beats_s, beats_s[::3], atol=0.012)
    assert track.tempo_bpm == pytest.approx(80.0, rel=0.03)
    assert track.tempo_curve_bpm.shape == track.beats_s.shape and not track.compound
    assert np.array_equal(track.downbeats_s, track.beats_s)
