"""The shipped learned tracker (weights/beat_tracker_cpu_v1): it loads without torch and tracks
the demo piece; track_beats' interface for both trackers; bad input gives a valid grid."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import DEMO_PIECE, PROJECT_ROOT
from core.audio.decode import load_audio
from core.beats.track import BeatTrack
from core.beats.tracking import track_beats
from core.errors import ConductorError
from training.beat_evaluation import f_measure

SAMPLE_RATE_HZ = 22_050
# The demo's score (core/assets/README.md): 4/4, quarters at 120 from 0.0 s, the music ends at 34 s.
DEMO_BEATS_S = np.arange(0.0, 34.0, 0.5)


@pytest.fixture(scope="module")
def demo():
    return load_audio(DEMO_PIECE)


def test_the_shipped_weights_track_the_demo_piece(demo):
    from core.installed_weights import beat_tracker_weights_path
    from core.beats.learned_tracker import learned_network

    network, weights_id = learned_network(required=True)
    assert beat_tracker_weights_path().stat().st_size < 4 * 2**20  # a few MB at most
    track = track_beats(demo, SAMPLE_RATE_HZ, tracker="learned")
    assert track.tracker == weights_id
    assert f_measure(DEMO_BEATS_S, track.beats_s) >= 0.95
    assert f_measure(DEMO_BEATS_S[::4], track.downbeats_s) >= 0.9
    assert track.meter == 4 and track.notated_meter == 4 and track.level == "beat"
    assert track.tempo_bpm == pytest.approx(120.0, rel=0.02)
    assert track.bar_number.shape == track.bar_position.shape == track.beats_s.shape
    assert track.bar_meters.shape == track.downbeats_s.shape and set(track.bar_meters.tolist()) == {4}


def test_the_learned_tracker_needs_no_torch():
    script = (
        "import sys; from core.audio.decode import load_audio; from core.beats.tracking import track_beats; "
        f"t = track_beats(load_audio({str(DEMO_PIECE)!r}), tracker='learned'); "
        "assert t.beats_s.size > 40, t; assert 'torch' not in sys.modules, 'torch was imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("tracker", ["learned", "dsp"])
def test_bad_input_gives_a_valid_grid(tracker, demo):
    rng = np.random.default_rng(1)
    click = np.zeros(SAMPLE_RATE_HZ * 8, np.float32)
    click[SAMPLE_RATE_HZ * 4 : SAMPLE_RATE_HZ * 4 + 100] = 0.9
    cases = {
        "silence": np.zeros(SAMPLE_RATE_HZ * 20, np.float32),
        "click": click,
        "noise": (0.2 * rng.standard_normal(SAMPLE_RATE_HZ * 20)).astype(np.float32),
        "one second": demo[:SAMPLE_RATE_HZ],
        "a few samples": demo[:300],
    }
    for name, samples in cases.items():
        track = track_beats(samples, SAMPLE_RATE_HZ, tracker=tracker)
        assert isinstance(track, BeatTrack)
        assert np.all(np.isfinite(track.beats_s)) and np.all(np.diff(track.beats_s) > 0), name
        assert np.isfinite(track.tempo_bpm) and track.bar_position.shape == track.beats_s.shape, name
        assert track.tempo_curve_bpm.shape == track.beats_s.shape and np.all(np.isfinite(track.tempo_curve_bpm)), name
        if name in ("silence", "noise", "a few samples"):
            assert track.beats_s.size <= 2, (name, track.beats_s)
    # The same tracker hears the beats of music: the empty grids above are about the input.
    assert f_measure(DEMO_BEATS_S, track_beats(demo, SAMPLE_RATE_HZ, tracker=tracker).beats_s) >= 0.9


def test_a_given_meter_and_another_rate(demo):
    track = track_beats(demo, SAMPLE_RATE_HZ, tracker="learned", meter=3)
    assert track.meter == 3 and set(track.bar_position.tolist()) <= {0, 1, 2}
    import soxr

    faster_rate = soxr.resample(demo, SAMPLE_RATE_HZ, 44_100).astype(np.float32)
    again = track_beats(faster_rate, 44_100, tracker="learned")
    assert f_measure(DEMO_BEATS_S, again.beats_s) >= 0.95
    with pytest.raises(ConductorError, match="Unknown beat tracker"):
        track_beats(demo, SAMPLE_RATE_HZ, tracker="madmom")


def test_a_beat_track_built_by_hand_fills_the_new_fields():
    beats_s = np.arange(8) * 0.5
    track = BeatTrack(beats_s, beats_s[::4], np.arange(8) % 4, 4, 120.0)
    assert track.bar_number.tolist() == [0, 0, 0, 0, 1, 1, 1, 1] and track.bar_meters.tolist() == [4, 4]
    assert np.allclose(track.tempo_curve_bpm, 120.0) and np.array_equal(track.notated_beats_s, beats_s)
    assert track.notated_meter == 4 and track.level == "beat" and track.tracker == "dsp"
