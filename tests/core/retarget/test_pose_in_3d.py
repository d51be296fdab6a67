"""The procedural conductor judged in 3D on each rig, after retargeting (issue 25): a relaxed
posture, no clashes, a smooth head that follows the gesture, bars that breathe, hands that
conduct. The rigs are posed by forward kinematics, which equals Blender's own evaluation
(tests/addon/test_retarget_blender.py, where the generated Rigify rig is measured too).

The music is synthetic with the beats it was made with, so these measure the drawing and the
retargeting, not the beat tracker; bench/pose_quality.py measures real recordings."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from core.procedural.conductor import conduct
from core.procedural.style import ConductingStyle
from core.retarget import PRESETS, lift_to_3d, retarget
from pose_measures import Posed, level_per_frame, measure
from rigs import SAMPLE_RATE_HZ, conductor_skeleton, mixamo_skeleton, played, rigify_like_skeleton

RIGS = {
    "conductor": lambda: (conductor_skeleton(), "conductor"),
    "mixamo": lambda: (mixamo_skeleton(y_up=True, scale=100.0, fingers=True), "mixamo"),
    "rigify": lambda: (rigify_like_skeleton(), "rigify"),  # no fingers: a rig without them still works
}


@functools.lru_cache(maxsize=None)
def dynamic_piece():
    """4/4 at 100 a minute, 20 bars: soft, a crescendo to loud, loud, a subito piano; an entrance
    the left hand cues. Returns (motion, level per frame in dB)."""
    gains = np.concatenate(
        [np.full(16, -12.0), np.linspace(-12.0, 4.0, 16), np.full(20, 4.0), np.full(12, -14.0), np.full(16, -4.0)]
    )
    samples, track = played(4, 100.0, 20, gains_db=gains)
    motion = conduct(samples, seed=0, beats=track, style=ConductingStyle(left_hand_activity=2.0))
    return motion, level_per_frame(motion, samples, SAMPLE_RATE_HZ)


@functools.lru_cache(maxsize=None)
def measured(rig: str):
    motion, level_db = dynamic_piece()
    skeleton, preset = RIGS[rig]()
    return measure(motion, Posed(motion, skeleton, preset), level_db)


@pytest.mark.parametrize("rig", list(RIGS))
def test_a_relaxed_posture_on_each_rig(rig):
    """The elbows hang below the shoulder-wrist line without flaring, the free hand rests at
    about the waist (never on the hip), the beat plane sits between the navel and the lower chest,
    and the baton points forward and a little up."""
    figures = measured(rig)
    assert figures["elbow_below_line"] >= 0.95 and figures["elbow_flare_deg"] <= 30.0, figures
    assert 0.1 <= figures["rest_height"] <= 0.45 and figures["on_hip"] == 0.0, figures
    assert 0.3 <= figures["beat_plane_height"] <= 0.7, figures
    assert 0.0 <= figures["baton_elevation_deg"] <= 30.0 and figures["baton_at_floor_or_body"] == 0.0, figures


def test_the_beat_plane_rises_with_the_loudness():
    motion, level_db = dynamic_piece()
    figures = measured("conductor")
    assert figures["plane_rise_m_per_10db"] >= 0.02, figures
    skeleton, preset = RIGS["conductor"]()
    wrist = Posed(motion, skeleton, preset).head("hand.R")
    beats = motion.frames_at(motion.extra["beats_s"])
    soft, loud = np.median(wrist[beats[4:14], 2]), np.median(wrist[beats[34:50], 2])
    assert loud - soft > 0.05  # metres


@pytest.mark.parametrize("rig", list(RIGS))
def test_no_clashes_on_each_rig(rig):
    """The hands never come within 8 cm, the forearms never cross, no hand, fingertip or baton
    goes inside the body, with the left hand as busy as it gets."""
    figures = measured(rig)
    assert figures["clash"] == 0.0 and figures["crossing"] == 0.0 and figures["inside_body"] == 0.0, figures


@pytest.mark.parametrize("rig", list(RIGS))
def test_a_smooth_head_that_follows_the_gesture_and_turns_to_cues(rig):
    figures = measured(rig)
    assert figures["head_jump_cm"] <= 1.5, figures
    assert 0.05 <= figures["head_lag_s"] <= 0.4, figures
    assert figures["cue_turn_deg"] >= 3.0, figures  # toward the left, where the left hand cues


@pytest.mark.parametrize("rig", list(RIGS))
def test_hands_that_conduct(rig):
    """Both wrists flex and turn with the gesture; where the rig has fingers, they curl."""
    figures = measured(rig)
    assert figures["wrist_range_deg"] >= 20.0 and figures["free_wrist_range_deg"] >= 20.0, figures
    if rig != "rigify":  # the Rigify-like chain has no fingers; the generated Rigify rig has (tests/addon)
        assert figures["finger_range_deg"] >= 20.0, figures


def test_the_free_hands_gestures_in_3d():
    """Palm up to ask for more, palm down to calm, the index finger pointing for a cue, the hand
    closing for the cut-off; the baton hand grips with its thumb and index finger."""
    motion, _ = dynamic_piece()
    lifted = lift_to_3d(
        motion.keypoints, skeleton_units=motion.extra["skeleton_units"], hands=motion.hands, noise_free=True
    )
    palm_up = lifted.role_frames["hand.L"][:, 2, 0]  # the palm's normal (the frame's X), upward part
    flex, turn, curl, point = motion.hands[:, 0].T
    asking, calming = (turn > 2.4) & (curl < 0.2), (turn < 0.2) & (flex < -0.4)
    cueing, closing = point > 0.9, (curl > 0.9) & (point < 0.1)
    assert asking.any() and calming.any() and cueing.any() and closing.any()
    assert palm_up[asking].mean() > 0.5 and palm_up[calming].mean() < -0.5
    fingers = lifted.finger_angles
    assert np.all(fingers["index.L"][cueing].sum(axis=1) < 0.5)  # nearly straight
    assert np.all(fingers["middle.L"][cueing].sum(axis=1) > 2.0)  # curled
    assert np.all(fingers["middle.L"][closing].sum(axis=1) > 3.0)  # a fist
    grip = fingers["index.R"].sum(axis=1)
    assert np.all((grip > 1.0) & (grip < 2.5)) and np.all(fingers["thumb.R"].sum(axis=1) > 0.5)


@functools.lru_cache(maxsize=None)
def steady_piece(variation: float = 1.0, moved_s: float = 0.0):
    """24 bars of 4/4 at one level, legato; ``moved_s`` moves the third bar's second beat."""
    samples, track = played(4, 96.0, 24)
    if moved_s:
        beats_s = track.beats_s.copy()
        beats_s[9] += moved_s
        track = type(track)(
            beats_s=beats_s,
            downbeats_s=beats_s[track.bar_position == 0],
            bar_position=track.bar_position,
            meter=4,
            tempo_bpm=track.tempo_bpm,
        )
    motion = conduct(samples, seed=3, variation=variation, beats=track)
    return motion, level_per_frame(motion, samples, SAMPLE_RATE_HZ)


def test_bars_breathe_and_every_ictus_stays_on_its_beat():
    motion, level_db = steady_piece()
    skeleton, preset = RIGS["conductor"]()
    figures = measure(motion, Posed(motion, skeleton, preset), level_db)
    assert figures["bar_correlation"] <= 0.9 and figures["ictus_alignment"] >= 0.95, figures
    textbook, level_db = steady_piece(variation=0.0)
    figures = measure(textbook, Posed(textbook, skeleton, preset), level_db)
    assert figures["bar_correlation"] >= 0.97, figures  # variation 0: every bar as the textbook draws it


def test_bars_of_two_and_three_are_no_more_alike_than_bars_of_four():
    """Fewer beats give a bar fewer places to differ, so its shape varies more (0.879 in 2 and 0.877
    in 3 against 0.866 in 4 before, 3D correlation of consecutive bars, steady legato at 96)."""
    skeleton, preset = RIGS["conductor"]()
    correlation = {}
    for meter, bars in ((2, 48), (3, 32), (4, 24)):
        samples, track = played(meter, 96.0, bars)
        motion = conduct(samples, seed=3, beats=track)
        level_db = level_per_frame(motion, samples, SAMPLE_RATE_HZ)
        correlation[meter] = measure(motion, Posed(motion, skeleton, preset), level_db)["bar_correlation"]
    assert correlation[2] <= correlation[4] + 0.005 and correlation[3] <= correlation[4] + 0.005, correlation


def test_a_bars_variation_is_its_own():
    """Each bar draws its variation from the seed and its own downbeat's time: moving a beat of
    bar 3 changes bars 3 and 4 (the rebound into the next), never bar 10."""
    before, _ = steady_piece()
    after, _ = steady_piece(moved_s=0.06)
    bar_s = 4 * 60.0 / 96.0
    start = int(before.frames_at(1.5 + 9 * bar_s))
    assert not np.allclose(before.keypoints, after.keypoints)
    assert np.array_equal(before.keypoints[start:], after.keypoints[start:])
    assert np.array_equal(before.hands[start:], after.hands[start:])


def test_a_motion_without_hands_gets_wrists_that_flex():
    """A network's motion has no hand channels: the lift derives them from its wrists, so every
    path keys moving wrists and, on rigs with fingers, a gripping baton hand."""
    motion, _ = dynamic_piece()
    skeleton = conductor_skeleton()
    animation = retarget(motion.keypoints, skeleton, PRESETS["conductor"])
    bend = np.degrees(2 * np.arccos(np.clip(np.abs(animation.rotation_quaternion["hand.R"][:, 0]), 0, 1)))
    assert np.ptp(bend) > 10.0
    assert "index.02.R" in animation.rotation_quaternion
