"""The hands beyond the wrists: how each wrist flexes and turns and how the fingers close, frame by
frame (the channels of :data:`core.motion.skeleton.HAND_CHANNELS`).

The baton hand grips the baton, palm down and a little turned in, and its wrist flexes into each
ictus and back on the rebound. The free hand rests relaxed, palm toward the body; it flexes with
the gesture while it mirrors, turns palm up to ask for more, palm down and bent back to calm,
points its index finger for a cue and closes for a cut-off.
"""

from __future__ import annotations

import numpy as np

from ..audio.filters import gaussian_smooth
from ..motion.keypoints import MOTION_FPS
from ..motion.skeleton import HAND_CHANNELS, HAND_SIDES
from .left_hand import LeftHand
from .planning import BeatPlan, smooth

# Channel values (flex rad, turn rad, curl, point) of each of the free hand's gestures.
FREE_REST = (0.15, 1.3, 0.5, 0.0)  # relaxed, palm toward the body
FREE_MIRROR = (0.0, 0.5, 0.3, 0.0)  # like the baton hand, loose; its flex and curl follow the stroke
MIRROR_CURL_RANGE = 0.4  # the mirroring hand's curl from wrist flexed to wrist bent back
FREE_ASK = (-0.7, 2.7, 0.12, 0.0)  # palm up, bent back so it lies flat, open: more
FREE_CALM = (-0.5, 0.0, 0.05, 0.0)  # palm down, bent back, flat: less
FREE_CUE = (0.0, 1.0, 0.75, 1.0)  # the index finger points, the others curled
FREE_CLOSE = (0.1, 0.8, 0.95, 0.0)  # the cut-off: the hand closes
BATON_REST = (0.0, 1.1, 1.0, 0.0)  # the baton held low, palm toward the body
BATON_BEAT = (0.0, 0.45, 1.0, 0.0)  # palm down, a little turned in, gripping the baton
STROKE_FLEX_RAD = 0.3  # the flex into an ictus and back on the rebound, at full stroke
STROKE_FLEX_REFERENCE = 0.06  # ... reached this far (image units) below the hand's local mean height
STROKE_FLEX_SECONDS = 0.35  # the local mean height: a Gaussian of this sigma
CLOSE_HOLD_S, CLOSE_OPEN_S = 0.35, 0.6  # a cut-off's closed hand holds this long, then opens over this


def hand_channels(plan: BeatPlan, left: LeftHand, times_s: np.ndarray) -> np.ndarray:
    """Both hands' channels per motion frame.

    Parameters
    ----------
    plan : BeatPlan
    left : LeftHand
        The free hand's gestures and both wrists (:func:`core.procedural.left_hand.left_hand`).
    times_s : np.ndarray [shape=(T,), float64]
        Each frame's time (30 fps), seconds.

    Returns
    -------
    np.ndarray [shape=(T, 2, 4), float32]
        Left then right hand; flex, turn, curl, point (:data:`core.motion.skeleton.HAND_CHANNELS`).
    """
    frames = times_s.size
    channels = np.zeros((frames, len(HAND_SIDES), len(HAND_CHANNELS)))
    engaged = plan.engaged[:, None]
    baton = np.array(BATON_REST) + engaged * (np.array(BATON_BEAT) - np.array(BATON_REST))
    baton[:, 0] = plan.engaged * stroke_flex(left.right[:, 1])
    channels[:, 1] = baton

    free = np.tile(np.array(FREE_REST, dtype=np.float64), (frames, 1))
    mirroring = np.tile(np.array(FREE_MIRROR, dtype=np.float64), (frames, 1))
    mirroring[:, 0] = stroke_flex(left.wrist[:, 1])
    # A loose hand's fingers follow its wrist (tenodesis): they open as it flexes into the ictus
    # and curl as it bends back on the rebound.
    extension = np.clip(-mirroring[:, 0] / STROKE_FLEX_RAD, 0.0, 1.0)
    mirroring[:, 2] = FREE_MIRROR[2] + MIRROR_CURL_RANGE * (extension - 0.5)
    for weight, gesture in ((left.mirror, mirroring), (left.ask, FREE_ASK), (left.calm, FREE_CALM)):
        free += weight[:, None] * (np.asarray(gesture) - free)
    free += cut_offs(plan, times_s)[:, None] * (np.array(FREE_CLOSE) - free)
    # A cue's wrist gives with the hand as the mirroring one's does: bent back as it rises over the
    # beat before and points, flexing forward as it lets go (held straight, it turned 13 degrees in
    # a minute of music whose free hand only cued).
    cueing = np.tile(np.array(FREE_CUE, dtype=np.float64), (frames, 1))
    cueing[:, 0] = mirroring[:, 0]
    free += left.cue[:, None] * (cueing - free)
    channels[:, 0] = free
    return channels.astype(np.float32)


def stroke_flex(wrist_y: np.ndarray) -> np.ndarray:
    """The wrist's flex with the stroke [shape=(T,)], radians: toward the palm as the hand drops
    below its local mean height into an ictus, back as it rises on the rebound; from the wrist's
    image y [shape=(T,)] at 30 fps (y down)."""
    local = wrist_y - gaussian_smooth(wrist_y, STROKE_FLEX_SECONDS * MOTION_FPS)
    return STROKE_FLEX_RAD * np.clip(local / STROKE_FLEX_REFERENCE, -1.0, 1.0)


def cut_offs(plan: BeatPlan, times_s: np.ndarray) -> np.ndarray:
    """How closed the free hand is for the cut-offs, in [0, 1] per frame: it closes over the
    cut-off stroke into each release, holds ``CLOSE_HOLD_S`` and opens over ``CLOSE_OPEN_S``."""
    closed = np.zeros(times_s.size)
    for release_s, period_s in zip(plan.release_s, plan.period_s):
        if not np.isfinite(release_s):
            continue
        closing_s = min(0.6 * period_s, 0.4)
        near = slice(*np.searchsorted(times_s, [release_s - closing_s, release_s + CLOSE_HOLD_S + CLOSE_OPEN_S]))
        local = times_s[near] - release_s
        shape = np.where(
            local < 0,
            1.0 + local / closing_s,
            np.where(local < CLOSE_HOLD_S, 1.0, 1.0 - (local - CLOSE_HOLD_S) / CLOSE_OPEN_S),
        )
        shape = np.clip(shape, 0.0, 1.0)
        closed[near] = np.maximum(closed[near], shape * shape * (3.0 - 2.0 * shape))
    return smooth(closed, 0.1)
