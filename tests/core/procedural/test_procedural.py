"""The procedural conductor and its beat tracker, on real audio: synthetic clicks made here and
scores rendered with FluidSynth (those tests skip when the fluidsynth program is missing)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.audio.decode import load_audio
from core.beats.tracking import track_beats
from core.errors import GenerationCancelled, ConductorError
from conftest import DEMO_PIECE

from core.audio.mel import frame_count_30fps, frame_count_90hz
from core.procedural.conductor import conduct
from core.procedural.patterns import BEAT_PLANE_Y, PATTERN_CENTRE_X
from core.procedural.planning import READY_HOLD_S
from core.procedural.style import ConductingStyle
from core.motion.skeleton import JOINT_INDEX
from training.metrics import beat_f_measure

SAMPLE_RATE_HZ = 22_050
needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None, reason="the fluidsynth program is not installed (apt-get install fluidsynth)"
)


def metronome(meter: int, bpm: float, seconds: float, *, start_s: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Pitched clicks, a louder, lower one on each downbeat, at a steady tempo.

    Returns (samples at 22,050 Hz, beat times in seconds).
    """
    samples = np.zeros(int(seconds * SAMPLE_RATE_HZ), dtype=np.float32)
    beats_s = np.arange(start_s, seconds - 0.3, 60.0 / bpm)
    click_t = np.arange(int(0.08 * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    for i, beat in enumerate(beats_s):
        downbeat = i % meter == 0
        pitch_hz, level = (440.0, 0.8) if downbeat else (880.0, 0.35)
        click = level * np.sin(2 * np.pi * pitch_hz * click_t) * np.exp(-click_t / 0.02)
        # A sustained low tone under each bar makes the harmony change on downbeats.
        first = int(beat * SAMPLE_RATE_HZ)
        samples[first : first + click.size] += click[: samples.size - first]
    return samples, beats_s


@pytest.fixture(scope="module")
def demo_motion():
    samples = load_audio(DEMO_PIECE)
    return samples, conduct(samples, seed=0)


def test_frame_count_matches_the_neural_generator(demo_motion):
    samples, motion = demo_motion
    assert motion.frame_count == motion.lead_in_frames + frame_count_30fps(frame_count_90hz(len(samples)))
    assert motion.fps == 30.0 and motion.weights_id == "procedural" and motion.seed == 0
    assert np.all(np.isfinite(motion.keypoints))
    assert motion.keypoints.min() >= 0.0 and motion.keypoints.max() <= 1.0
    assert set(motion.extra) >= {"beats_s", "downbeats_s", "meter", "tempo_bpm"}


def test_music_that_starts_on_its_first_beat_is_prepared_before_it():
    """An orchestra comes in on the conductor's upbeat: with the first beat at 0.1 s there is no
    room for it in the music, so the motion starts before the music: still at the ready point,
    then one stroke in tempo into the first beat. With an introduction, no lead-in."""
    samples, beats_s = metronome(4, 100.0, 8.0, start_s=0.1)
    motion = conduct(samples, seed=0, variation=0.0, tracker="dsp")
    tracked = np.asarray(motion.extra["beats_s"])
    period_s, first_s = float(np.median(np.diff(tracked[:9]))), tracked[0]  # about 0.6 and 0.1
    assert first_s == pytest.approx(0.1, abs=0.07)
    assert motion.lead_in_s == pytest.approx(READY_HOLD_S + period_s - first_s, abs=1.01 / 30)
    wrist = motion.keypoints[:, JOINT_INDEX["right_wrist"]]
    ready = motion.frames_at(-period_s)  # the preparatory beat starts one beat ahead
    assert np.ptp(wrist[: ready - 2], axis=0).max() < 0.01  # poised, still
    first = int(motion.frames_at(first_s))
    height = -wrist[:, 1]
    assert height[ready:first].max() > height[first] + 0.1  # up and down into the first beat
    assert abs(int(np.argmin(height[first - 3 : first + 4])) - 3) <= 1  # ... landing on it
    # It eases out of the stillness, legato or detached (a flick out of a standstill jumped to full
    # speed in one frame), and arrives at speed.
    for staccato in (False, True):
        style = ConductingStyle(articulation="staccato") if staccato else ConductingStyle(articulation="legato")
        hand = conduct(samples, seed=0, variation=0.0, tracker="dsp", style=style).keypoints[
            :, JOINT_INDEX["right_wrist"]
        ]
        speed = np.linalg.norm(np.diff(hand, axis=0), axis=1)
        gained = np.diff(speed[ready - 1 : ready + 6])  # from frame to frame as it sets off
        assert gained.max() < 0.6 * speed[ready:first].max(), staccato  # the flick: 0.97 of its top speed
    # Music with room before its first beat needs none.
    late, _ = metronome(4, 100.0, 8.0, start_s=1.5)
    assert conduct(late, seed=0, variation=0.0, tracker="dsp").lead_in_s == 0.0


def test_the_slowest_grid_s_lead_in_is_within_the_drift_drawn_before_the_music():
    """A grid at 20 a minute (the slowest one allowed) from 0 s in bars of 5 (a 3 is subdivided,
    its preparation half a beat) asks the longest preparation: the body's drift is drawn for all
    of it (LONGEST_LEAD_IN_S), so none of it repeats a frame."""
    from core.beats.grid import grid_from_times
    from core.procedural.irregularity import LONGEST_LEAD_IN_S

    samples, _ = metronome(4, 100.0, 40.0)
    grid = grid_from_times(3.0 * np.arange(12), [str(1 + k % 5) for k in range(12)], duration_s=40.0)
    motion = conduct(samples, seed=0, beats=grid)
    assert motion.extra["pattern"] in ("2+3", "3+2")
    assert motion.lead_in_s == pytest.approx(READY_HOLD_S + 3.0, abs=1 / 30) and motion.lead_in_s < LONGEST_LEAD_IN_S
    assert np.all(np.isfinite(motion.keypoints))
    in_three = conduct(
        samples, seed=0, beats=grid_from_times(3.0 * np.arange(12), ["1", "2", "3"] * 4, duration_s=40.0)
    )
    assert in_three.extra["pattern"] == "3 subdivided"
    assert in_three.lead_in_s == pytest.approx(READY_HOLD_S + 1.5, abs=1 / 30)


def test_right_wrist_lowest_point_on_each_beat(demo_motion):
    _, motion = demo_motion
    height = -motion.keypoints[:, JOINT_INDEX["right_wrist"], 1]  # image y points down
    beats_s = np.asarray(motion.extra["beats_s"])
    assert beats_s.size > 40
    checked = 0
    for beat in beats_s:
        frame = int(motion.frames_at(beat))
        if 2 <= frame < motion.frame_count - 3:
            window = height[frame - 2 : frame + 3]
            assert abs(int(np.argmin(window)) - 2) <= 1, f"lowest point not on the beat at {beat:.2f} s"
            checked += 1
    assert checked > 40


def test_demo_piece_tracks_known_beats(demo_motion):
    # The demo piece is Mozart K.155/i rendered at 120 bpm from 0 s (see core/assets/README.md).
    _, motion = demo_motion
    reference_s = np.arange(0.0, 34.0, 0.5)
    assert beat_f_measure(reference_s, motion.extra["beats_s"]) > 0.9
    assert motion.extra["meter"] == 4
    assert abs(motion.extra["tempo_bpm"] - 120.0) < 3.0


@pytest.mark.parametrize("meter", [3, 4])
def test_pattern_of_the_meter(meter):
    samples, beats_s = metronome(meter, 100.0, 16.0)
    # The signal-processing tracker hears a click track's accents; the learned one, trained on
    # ensembles, beats this 3/4 click in 4 (README, "Reading the music").
    motion = conduct(samples, seed=0, variation=0.0, tracker="dsp")
    assert motion.extra["meter"] == meter
    assert beat_f_measure(beats_s, motion.extra["beats_s"]) > 0.95
    ictus_x, rebound_y = pattern_by_position(motion, meter)
    # The right hand's beat 2 goes inward (larger x) in 4 and outward (smaller x) in 3.
    if meter == 4:
        assert ictus_x[1] > ictus_x[0] + 0.02 and ictus_x[2] < ictus_x[0] - 0.02
    else:
        assert ictus_x[1] < ictus_x[0] - 0.02
    # The last beat of the bar rebounds highest, preparing the downbeat.
    assert int(np.argmin(rebound_y)) == meter - 1


def pattern_by_position(motion, meter: int) -> tuple[np.ndarray, np.ndarray]:
    """Median right-wrist x at each place's ictus and median top (image y) of its rebound.

    Returns two arrays of shape (meter,); a place is beats since the last tracked downbeat.
    """
    wrist = motion.keypoints[:, JOINT_INDEX["right_wrist"]]
    tracked = np.asarray(motion.extra["beats_s"])
    downbeats = np.isin(tracked, motion.extra["downbeats_s"])
    last_downbeat = np.maximum.accumulate(np.where(downbeats, np.arange(tracked.size), -1))
    position = np.where(last_downbeat >= 0, np.arange(tracked.size) - last_downbeat, -1)
    assert np.all(position < meter)
    frames = motion.frames_at(tracked)
    ictus_x = np.array([np.median(wrist[frames[position == p], 0]) for p in range(meter)])
    peaks = [wrist[f:f2, 1].min() for f, f2 in zip(frames[:-1], frames[1:])]
    rebound_y = np.array([np.median([y for y, p in zip(peaks, position[:-1]) if p == q]) for q in range(meter)])
    return ictus_x, rebound_y


def test_six_beat_pattern_when_the_meter_is_given():
    samples, beats_s = metronome(6, 100.0, 18.0)
    motion = conduct(samples, seed=0, variation=0.0, meter=6, tracker="dsp")  # a click track: see above
    assert motion.extra["meter"] == 6
    assert beat_f_measure(beats_s, motion.extra["beats_s"]) > 0.95
    assert beat_f_measure(beats_s[::6], motion.extra["downbeats_s"]) > 0.9
    ictus_x, rebound_y = pattern_by_position(motion, 6)
    # Beats 2 and 3 go inward (larger x), 4 and 5 outward, 6 comes back near the middle.
    assert ictus_x[1] > ictus_x[0] + 0.01 and ictus_x[2] > ictus_x[1]
    assert ictus_x[3] < ictus_x[0] - 0.01 and ictus_x[4] < ictus_x[3]
    assert int(np.argmin(rebound_y)) == 5


def test_a_meter_with_no_pattern_is_refused():
    samples, _ = metronome(4, 110.0, 3.0)
    with pytest.raises(ConductorError, match="Meter"):
        conduct(samples, meter=7)


def test_left_hand_cues_a_loud_entrance():
    samples, beats_s = metronome(4, 120.0, 16.0)
    # A held chord under the clicks keeps the level steady between beats.
    samples += 0.2 * np.sin(2 * np.pi * 220.0 * np.arange(samples.size) / SAMPLE_RATE_HZ).astype(np.float32)
    entrance_s = beats_s[16]  # a downbeat: the music gets 20 dB louder there
    samples[: int(entrance_s * SAMPLE_RATE_HZ) - 200] *= 0.1
    motion = conduct(samples, seed=0, variation=0.0)
    assert any(abs(d - entrance_s) < 0.07 for d in motion.extra["downbeats_s"])
    off_mirror = np.linalg.norm(motion.keypoints[:, JOINT_INDEX["left_wrist"]] - mirrored_at_70(motion), axis=1)
    frame = int(motion.frames_at(entrance_s))
    assert off_mirror[frame - 3 : frame + 4].max() > 0.05  # the left hand points on its own
    # ... its index finger out, its wrist still bent back from the rise (it was held straight, the
    # whole cue at one angle)
    pointing = motion.hands[frame - 3 : frame + 4, 0]
    assert pointing[:, 3].min() > 0.8
    assert np.degrees(pointing[:, 0]).max() < -8.0
    later = int(motion.frames_at(entrance_s + 4.0))
    # Then it mirrors again (the music is loud now), but for making room where the two hands
    # meet in the middle (core.procedural.left_hand.keep_apart).
    assert np.median(off_mirror[later : later + 90]) < 0.01 and off_mirror[later : later + 90].max() < 0.04


def mirrored_at_70(motion) -> np.ndarray:
    """The right wrist mirrored to the left side of the body at 70 % of its size [shape=(T, 2)]."""
    right = motion.keypoints[:, JOINT_INDEX["right_wrist"]].astype(np.float64)
    centre = np.array([1.0 - PATTERN_CENTRE_X, BEAT_PLANE_Y])
    return centre + 0.7 * (np.stack([1.0 - right[:, 0], right[:, 1]], axis=1) - centre)


@pytest.fixture(scope="module")
def rendered_pieces():
    """Four scores of the tuning half of core/assets/README.md's table, 20 s each, rendered once."""
    if shutil.which("fluidsynth") is None:
        pytest.skip("the fluidsynth program is not installed (apt-get install fluidsynth)")
    pytest.importorskip("music21")
    from training.scores import render_score

    pieces = [
        ("bach/bwv66.6", 0),
        ("mozart/k80/movement1", 0),
        ("haydn/opus74no1/movement3", None),
        ("mozart/k155/movement1", None),
    ]
    return {
        path: render_score(
            path, program=program, excerpt_s=20.0 if path != "bach/bwv66.6" else None, sample_rate_hz=SAMPLE_RATE_HZ
        )
        for path, program in pieces
    }


@pytest.mark.slow
def test_hands_hold_through_fermatas(rendered_pieces):
    rendered = rendered_pieces["bach/bwv66.6"]  # fermatas held twice as long (render_score)
    # The signal-processing tracker hears the holds; the learned one beats through this chorale's
    # fermatas (README, "Reading the music"); the hands hold wherever the beats stop.
    motion = conduct(rendered.samples, seed=0, variation=0.0, tracker="dsp")
    beats_s, period_s = rendered.beats_s, float(np.median(np.diff(rendered.beats_s)))
    tracked = np.asarray(motion.extra["beats_s"])
    wrist_y = motion.keypoints[:, JOINT_INDEX["right_wrist"], 1]
    holds = np.flatnonzero(np.diff(beats_s) > 1.7 * period_s)
    assert holds.size >= 3
    for i in holds:
        start_s, end_s = beats_s[i], beats_s[i + 1]
        assert not np.any((tracked > start_s + 0.1) & (tracked < end_s - 0.1)), "beat tracked inside a fermata"
        # After the rebound the hand stays up until it prepares the next beat.
        middle = np.arange(motion.frames_at(start_s + period_s), motion.frames_at(end_s - 0.7 * period_s))
        assert wrist_y[middle].max() < BEAT_PLANE_Y - 0.03, f"the hand beat through the fermata at {start_s:.2f} s"


@pytest.mark.slow
def test_meter_detection_on_rendered_scores(rendered_pieces):
    # The signal-processing tracker was tuned on these (core/assets/README.md's tuning half); 3 of 4
    # is the bar. The learned tracker's meter is measured on held-out renders in bench/.
    found = {path: track_beats(r.samples, SAMPLE_RATE_HZ, tracker="dsp").meter for path, r in rendered_pieces.items()}
    right = sum(found[path] == r.meter for path, r in rendered_pieces.items())
    assert right >= 3, found


def test_silence_gives_a_still_pose():
    motion = conduct(np.zeros(3 * SAMPLE_RATE_HZ, dtype=np.float32), seed=3)
    assert motion.frame_count == frame_count_30fps(frame_count_90hz(3 * SAMPLE_RATE_HZ))
    assert np.all(np.isfinite(motion.keypoints))
    assert np.ptp(motion.keypoints, axis=0).max() < 1e-6
    assert motion.extra["beats_s"] == []


@pytest.mark.parametrize("tracker", ["learned", "dsp"])
def test_noise_has_no_beat_and_the_conductor_holds_still(tracker):
    noise = (0.2 * np.random.default_rng(1).standard_normal(20 * SAMPLE_RATE_HZ)).astype(np.float32)
    motion = conduct(noise, seed=0, tracker=tracker)
    assert motion.extra["beats_s"] == [] and np.all(np.isfinite(motion.keypoints))
    assert np.ptp(motion.keypoints, axis=0).max() < 1e-6


def test_one_second_of_music_works():
    samples, _ = metronome(4, 120.0, 1.0, start_s=0.1)
    motion = conduct(samples, seed=1)
    assert motion.frame_count == motion.lead_in_frames + frame_count_30fps(frame_count_90hz(samples.size))
    assert np.all(np.isfinite(motion.keypoints))


def test_music_then_silence_lowers_the_hands():
    samples, _ = metronome(4, 120.0, 12.0)
    samples[6 * SAMPLE_RATE_HZ :] = 0.0
    motion = conduct(samples, seed=0, variation=0.0)
    wrist_y = motion.keypoints[:, JOINT_INDEX["right_wrist"], 1]
    assert np.ptp(wrist_y[-60:]) < 1e-3  # the last 2 s are still
    assert wrist_y[-1] > np.median(wrist_y[30:150])  # resting lower than while beating


def test_seed_and_variation():
    samples, _ = metronome(4, 110.0, 8.0)
    first = conduct(samples, seed=5).keypoints
    assert np.array_equal(first, conduct(samples, seed=5).keypoints)
    assert not np.allclose(first, conduct(samples, seed=6).keypoints)
    exact = conduct(samples, seed=5, variation=0.0).keypoints
    assert np.array_equal(exact, conduct(samples, seed=99, variation=0.0).keypoints)


def test_cancel_raises():
    samples, _ = metronome(4, 110.0, 3.0)
    messages = []
    with pytest.raises(GenerationCancelled):
        conduct(samples, progress=lambda f, m: messages.append(m), should_cancel=lambda: len(messages) >= 1)


@needs_fluidsynth
def test_beat_tracking_on_a_rendered_chorale():
    pytest.importorskip("music21")
    from training.scores import render_score

    rendered = render_score("bach/bwv66.6", program=0, sample_rate_hz=SAMPLE_RATE_HZ)
    track = track_beats(rendered.samples, SAMPLE_RATE_HZ)
    # Fermatas make the beat irregular here; the tracker should still find nearly all beats.
    assert beat_f_measure(rendered.beats_s, track.beats_s) > 0.9


def test_head_lifts_upright_in_3d(demo_motion):
    """The face keypoints lift to a head within 15 degrees of upright (the golden M2S-GAN output
    lifts to about 6 degrees forward); higher eyes once tipped it back by 20 degrees."""
    from core.retarget import RetargetSettings, lift_to_3d

    lifted = lift_to_3d(demo_motion[1].keypoints, RetargetSettings())
    names = list(lifted.joint_names)
    up = lifted.joints_m[:, names.index("head_top")] - lifted.joints_m[:, names.index("head")]
    up /= np.linalg.norm(up, axis=1, keepdims=True)
    tilt_deg = np.degrees(np.arccos(np.clip(np.median(up, axis=0)[2], -1, 1)))
    assert tilt_deg < 15.0


def test_the_running_energy_is_computed_a_chunk_at_a_time_and_equals_one_pass(monkeypatch):
    import core.procedural.loudness as loudness

    samples = np.random.default_rng(2).standard_normal(10_007).astype(np.float32)
    indices = np.array([0, 1, 999, 1000, 1001, 5000, 10_007, 3])
    whole = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])[indices]
    monkeypatch.setattr(loudness, "ENERGY_CHUNK_SAMPLES", 1000)  # chunk edges at 1000, 2000, ...
    assert np.allclose(loudness.cumulative_energy_at(samples, indices), whole, rtol=1e-12, atol=0)
