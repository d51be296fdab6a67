"""Lifting: 13 image keypoints per frame -> a 3D upper body with constant bone lengths.

World frame (Blender's): metres, Z up, the conductor facing -Y (toward the camera and the
audience), their left on +X. The image plane is the XZ plane; depth is Y.

Each bone keeps one length for the whole piece. Its image-plane offset gives two coordinates;
the third (depth) follows from the length, and conducting priors choose its sign: elbows in
front of the shoulders and hands in front of the elbows (so no arm flips or passes through the
body), the head and face in front of the neck, and the shoulders, hips and ears turned the way
the face turns (nose left of the ears' midpoint = turned to the conductor's left). An elbow or
wrist that crosses in front of the chest is turned forward, its bone keeping its length, to stay
``ARM_CLEARANCE_M`` in front of the spine line (big gestures and ``amplitude`` above 1 can ask
for more than the bones' lengths in the image, which would lay the arm flat through the chest).

There are no hand keypoints: the hands follow the motion's hand channels (or channels derived
from the wrists, :mod:`core.retarget.hands`): each wrist flexes and turns, the baton hand holds
the baton toward the orchestra, a little in and up, flexing it down into each ictus; the fingers
curl, point and grip.

The side the head turns to is chosen smoothly (a soft sign of how far the nose is off the ears'
midpoint), so a face passing through the frontal view turns through it instead of flipping the
ears' depth in one frame (there the ear line is a little shorter than the ears' distance, and
its projection a fraction of a millimetre off the image).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..motion.keypoints import HANDS_SHAPE, MOTION_FPS
from ..motion.skeleton import JOINT_COUNT, JOINT_INDEX, JOINT_NAMES
from .hands import baton_hand, derived_hands, finger_angles, free_hand, turned_apart
from .repair import repair_keypoints
from .rotations import cross3, dot3, gaussian_smooth, normalize, orthonormal_frame, rotate_toward
from .settings import RetargetSettings

# Reference body (the add-on's conductor rig), metres: fixes the scale of the lifted body.
SHOULDER_WIDTH_M = 0.38
TORSO_HEIGHT_M = 0.42  # hips' midpoint to shoulders' midpoint
PELVIS_HEIGHT_M = 1.00
HAND_LENGTH_M = 0.09
BATON_LENGTH_M = 0.40
HEAD_TOP_M = 0.12  # from the ears' midpoint up to the crown
SPINE_FRACTION = 0.29  # derived spine and chest joints along pelvis -> neck
CHEST_FRACTION = 0.67

SMOOTHING_SECONDS = 0.12  # Gaussian sigma at smoothing = 1
YAW_CUE_SECONDS = 0.3  # smoothing of the face-turn cue that picks the head's depth signs
TORSO_CUE_SECONDS = 1.0  # ... and the torso's: the body turns slower than the head
TURN_CUE_M = 0.004  # a nose this far off the ears' midpoint turns the ears' depth sign fully (a soft sign)
SWAY_SECONDS = 0.25
SWAY_LIMIT_M = 0.05
SWAY_TURN_LIMIT_RAD = np.radians(15.0)

# Plausible lengths (metres) each bone's per-piece estimate is clipped to.
LENGTH_RANGES_M: dict[str, tuple[float, float]] = {
    "hip_half": (0.08, 0.20),
    "torso": (0.30, 0.60),
    "shoulder_half": (0.14, 0.26),
    "upper_arm": (0.22, 0.40),
    "forearm": (0.20, 0.36),
    "neck": (0.08, 0.25),
    "ear_half": (0.05, 0.10),
    "nose": (0.06, 0.16),
    "eye": (0.05, 0.14),
}
# The chest that arms must pass in front of: this share of the shoulders' half span wide, and
# ARM_CLEARANCE_M in front of the spine line for the centre of an elbow or wrist (the built-in
# body's chest is 0.115 m deep from the spine line, its sleeves 0.05 m thick).
CHEST_HALF_WIDTH_SHARE = 0.95
ARM_CLEARANCE_M = 0.16
# Joint limits, radians.
TORSO_LEAN_LIMIT = np.radians(40.0)  # from vertical
NECK_BEND_LIMIT = np.radians(45.0)  # from the torso's line
TORSO_TURN_LIMIT = np.radians(50.0)  # shoulder line from the X axis
ELBOW_FLEXION_LIMIT = np.radians(150.0)  # forearm from the upper arm's line

DERIVED_JOINTS: tuple[str, ...] = (
    "pelvis",
    "spine",
    "chest",
    "neck",
    "head",
    "head_top",
    "hand_tip.L",
    "hand_tip.R",
    "baton_tip",
)
LIFTED_JOINTS: tuple[str, ...] = JOINT_NAMES + DERIVED_JOINTS

_J = JOINT_INDEX
_UP = np.array([0.0, 0.0, 1.0])
_LEFT = np.array([1.0, 0.0, 0.0])
_FORWARD = np.array([0.0, -1.0, 0.0])


@dataclasses.dataclass
class Lifted:
    """A 3D upper body over time.

    Attributes
    ----------
    joint_names : tuple[str, ...]
        The 13 keypoints then :data:`DERIVED_JOINTS`.
    joints_m : np.ndarray [shape=(T, J, 3), float32]
        World positions in metres (Z up, facing -Y, left on +X).
    role_frames : dict[str, np.ndarray [shape=(T, 3, 3), float32]]
        For each rotation role (see :data:`core.retarget.mapping.FK_ROLES`), a world rotation
        whose columns are the part's X axis (lateral, or the elbow hinge for arm parts), its
        Y axis (the bone direction: e.g. shoulder -> elbow for "upper_arm.L") and Z = X x Y.
    bone_lengths_m : dict[str, float]
        The constant lengths, metres ("*_half": centre to one side).
    metres_per_unit : float
        Metres per image height unit of the input.
    keypoints_m : np.ndarray [shape=(T, 13, 2), float32]
        The repaired, smoothed, amplitude-scaled keypoints in metres relative to the hips'
        midpoint: (X, Z) = ((x - x_pelvis) * image_aspect, y_pelvis - y) * metres_per_unit.
        The orthographic projection of ``joints_m - pelvis`` onto XZ reproduces them wherever
        no length clamp or joint limit acted.
    observed : np.ndarray [shape=(T, 13), bool]
        True where the input joint was valid; False where it was filled from neighbours.
    hips_offset_m : np.ndarray [shape=(T, 3), float32]
        The pelvis' sway away from its still position (zero when hip_sway is 0).
    fps : float
        Frame rate of every per-frame array, frames a second.
    hands : np.ndarray [shape=(T, 2, 4), float32]
        The hand channels used, left then right (the motion's, mirrored with it, smoothed like
        the keypoints; or derived from the wrists).
    finger_angles : dict[str, np.ndarray [shape=(T, 3), float32]]
        For each finger and side ("index.L", "thumb.R", ...), its three joints' curl toward the
        palm, radians (see :func:`core.retarget.hands.finger_angles`).
    """

    joint_names: tuple[str, ...]
    joints_m: np.ndarray
    role_frames: dict[str, np.ndarray]
    bone_lengths_m: dict[str, float]
    metres_per_unit: float
    keypoints_m: np.ndarray
    observed: np.ndarray
    hips_offset_m: np.ndarray
    fps: float
    hands: np.ndarray
    finger_angles: dict[str, np.ndarray]

    def joint(self, name: str) -> np.ndarray:
        """Positions of one joint [shape=(T, 3)], metres."""
        return self.joints_m[:, self.joint_names.index(name)]


def lift_to_3d(
    keypoints: np.ndarray,
    settings: RetargetSettings | None = None,
    *,
    fps: float = MOTION_FPS,
    skeleton_units: dict[str, float] | None = None,
    hands: np.ndarray | None = None,
    noise_free: bool = False,
) -> Lifted:
    """Lift 2D conducting keypoints to a 3D upper body with constant bone lengths.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 13, 2), float] image units
        x, y in [0, 1] image coordinates (y down), COCO joint order, at ``fps`` frames a second;
        bad values allowed (NaN, zeros, out of range, swapped sides): they are repaired from
        neighbouring frames.
    settings : RetargetSettings or None
        amplitude, smoothing, mirror, baton_hand, hip_sway and image_aspect are used.
    fps : float > 0
        Frame rate of ``keypoints`` (sets the smoothing widths in frames).
    skeleton_units : dict of str to float, or None
        The body the keypoints were drawn from, where their maker knows it (the procedural
        conductor: ``Motion.extra["skeleton_units"]``), in image units: ``shoulder_width``,
        ``torso_height`` and any bone lengths (``upper_arm``, ``forearm``, ...). Used instead of
        estimates from the whole piece, so an edit of one passage lifts only that passage anew.
    hands : np.ndarray [shape=(T, 2, 4)] or None
        The motion's hand channels (``Motion.hands``), or None to derive them from the wrists.
    noise_free : bool
        Drawn without jitter (``Motion.extra["noise_free"]``): not smoothed, so each crisp stop
        and ictus keeps its frame (60 ms of smoothing moved a marcato ictus two frames early).

    Returns
    -------
    Lifted
        T frames at ``fps``; its arrays' shapes and units are listed in :class:`Lifted`.
    """
    settings = settings or RetargetSettings()
    if len(keypoints) == 0:  # nothing to estimate from: lift one neutral frame, keep none
        return _no_frames(lift_to_3d(np.zeros((1, JOINT_COUNT, 2)), settings, fps=fps))
    points, observed = repair_keypoints(keypoints, mirror=settings.mirror)
    sigma_frames = 0.0 if noise_free else settings.smoothing * SMOOTHING_SECONDS * fps
    channels = gaussian_smooth(_hand_channels(points, hands, settings=settings, fps=fps), sigma_frames)
    points = gaussian_smooth(points, sigma_frames)
    frames = len(points)

    # --- image -> metres, relative to the hips' midpoint (X left, Z up)
    units = points * np.array([settings.image_aspect, 1.0])
    pelvis_units = (units[:, _J["left_hip"]] + units[:, _J["right_hip"]]) / 2
    known = skeleton_units or {}
    metres_per_unit = _metres_per_unit(units, observed, known=known, image_aspect=settings.image_aspect)
    flat = (units - pelvis_units[:, None]) * metres_per_unit * np.array([1.0, -1.0])

    offsets = _tree_offsets(flat)
    lengths = _bone_lengths(offsets, observed, known=known, metres_per_unit=metres_per_unit)
    offsets = _scale_gestures(offsets, settings.amplitude)
    flat = _flat_from_offsets(offsets)
    directions = _limited_directions(offsets, lengths, flat=flat, fps=fps)
    sway, hips_turn = _hips_sway(
        pelvis_units, directions["hip_half"], metres_per_unit=metres_per_unit, hip_sway=settings.hip_sway, fps=fps
    )
    directions = _clear_of_chest(directions, lengths)
    joints = _compose(directions, lengths, sway + np.array([0.0, 0.0, PELVIS_HEIGHT_M]))

    # --- orientations of the parts the rigs animate, and the tips
    baton_side = {"left": "L", "right": "R"}.get(settings.baton_hand)
    role_frames = _oriented(joints, directions, channels, baton_side=baton_side, hips_turn=hips_turn, fps=fps)
    lengths.update(hand=HAND_LENGTH_M, baton=BATON_LENGTH_M, head_top=HEAD_TOP_M)

    return Lifted(
        joint_names=LIFTED_JOINTS,
        joints_m=_stacked(joints, frames),
        role_frames=role_frames,
        bone_lengths_m=lengths,
        metres_per_unit=float(metres_per_unit),
        keypoints_m=flat.astype(np.float32),
        observed=observed,
        hips_offset_m=sway.astype(np.float32),
        fps=float(fps),
        hands=channels.astype(np.float32),
        finger_angles=_finger_angles(channels, baton_side=baton_side),
    )


def _oriented(
    joints: dict[str, np.ndarray],
    directions: dict[str, np.ndarray],
    channels: np.ndarray,
    *,
    baton_side: str | None,
    hips_turn: np.ndarray,
    fps: float,
) -> dict[str, np.ndarray]:
    """:attr:`Lifted.role_frames` from the composed ``joints`` and the bones' ``directions``
    [each shape=(T, 3)], the hand channels [shape=(T, 2, 4)] and the hips' turn [shape=(T,)];
    the derived tips (the hands', the baton's, the crown) are added to ``joints``."""
    hinge, hand, palm = _hand_directions(directions, channels, joints=joints, baton_side=baton_side, fps=fps)
    # The eyes sit about level with the ears; the nose tip hangs lower and would tilt "up".
    face_forward = (joints["left_eye"] + joints["right_eye"]) / 2 - joints["head"]
    head_up = normalize(cross3(face_forward, directions["ear_half"]), _UP)
    joints.update(_tips(joints, hand, head_up=head_up, baton_side=baton_side or "R"))
    return _role_frames(
        directions,
        hinge=hinge,
        hand=hand,
        palm=palm,
        head_up=head_up,
        baton_side=baton_side or "R",
        hips_turn=hips_turn,
    )


def _finger_angles(channels: np.ndarray, *, baton_side: str | None) -> dict[str, np.ndarray]:
    """:attr:`Lifted.finger_angles` [each shape=(T, 3), float32] from both hands' channels
    [shape=(T, 2, 4)], the hand on ``baton_side`` gripping the baton."""
    return {
        f"{finger}.{side}": angles.astype(np.float32)
        for index, side in enumerate("LR")
        for finger, angles in finger_angles(channels[:, index], holds_baton=side == baton_side).items()
    }


def _hand_channels(
    points: np.ndarray, hands: np.ndarray | None, *, settings: RetargetSettings, fps: float
) -> np.ndarray:
    """The hand channels to lift [shape=(T, 2, 4), float64]: the motion's ``hands`` (sides swapped
    when mirrored), or derived from the repaired keypoints ``points`` [shape=(T, 13, 2)]; smoothed
    over time like the keypoints."""
    baton_side = {"left": "L", "right": "R"}.get(settings.baton_hand)
    if hands is None:
        channels = derived_hands(points, fps=fps, baton_side=baton_side)
    else:
        channels = np.asarray(hands, dtype=np.float64).reshape(len(points), *HANDS_SHAPE)
        if settings.mirror:
            channels = channels[:, ::-1]
    return gaussian_smooth(channels, settings.smoothing * SMOOTHING_SECONDS * fps)


def _no_frames(single: Lifted) -> Lifted:
    """``single`` (one neutral frame) cut to none: the lift of an empty motion."""
    return dataclasses.replace(
        single,
        joints_m=single.joints_m[:0],
        keypoints_m=single.keypoints_m[:0],
        role_frames={role: frame[:0] for role, frame in single.role_frames.items()},
        observed=single.observed[:0],
        hips_offset_m=single.hips_offset_m[:0],
        hands=single.hands[:0],
        finger_angles={name: angles[:0] for name, angles in single.finger_angles.items()},
    )


def _metres_per_unit(units: np.ndarray, observed: np.ndarray, *, known: dict[str, float], image_aspect: float) -> float:
    """Metres per image-height unit: from the maker's shoulder width and torso height (``known``,
    image units) where given, else estimated from ``units`` [shape=(T, 13, 2)] over the frames
    each joint was ``observed`` [shape=(T, 13), bool]."""
    if {"shoulder_width", "torso_height"} <= set(known):
        return _scale_from(known["shoulder_width"] * image_aspect, known["torso_height"])
    return _scale(units, observed)


def _stacked(joints: dict[str, np.ndarray], frames: int) -> np.ndarray:
    """The joints of :data:`LIFTED_JOINTS` [each shape=(T, 3)] in one array [shape=(T, J, 3), float32]."""
    joints_m = np.empty((frames, len(LIFTED_JOINTS), 3), np.float32)
    for index, name in enumerate(LIFTED_JOINTS):
        joints_m[:, index] = joints[name]
    return joints_m


def _bone_lengths(
    offsets: dict[str, np.ndarray], observed: np.ndarray, *, known: dict[str, float], metres_per_unit: float
) -> dict[str, float]:
    """Each bone's one length for the piece, metres: the maker's (``known``, image units) where
    given, else :func:`_robust_length` over the frames it was seen, clipped to its plausible range."""
    return {
        name: float(
            np.clip(
                known[name] * metres_per_unit
                if name in known
                else _robust_length(_pooled(offsets, name), seen_for(observed)),
                *LENGTH_RANGES_M[name],
            )
        )
        for name, seen_for in _OBSERVED_BY_BONE.items()
    }


def _limited_directions(
    offsets: dict[str, np.ndarray], lengths: dict[str, float], *, flat: np.ndarray, fps: float
) -> dict[str, np.ndarray]:
    """Unit 3D direction [shape=(T, 3)] of every bone of ``offsets``: depth from its constant
    length, its sign from the priors and the way the face (slower: the body) is turned in
    ``flat`` [shape=(T, 13, 2)], metres; then the joint limits."""
    # --- which way the face, and slower the body, is turned: +1 toward the conductor's left
    cue = flat[:, _J["nose"], 0] - (flat[:, _J["left_ear"], 0] + flat[:, _J["right_ear"], 0]) / 2
    head_turn = np.tanh(gaussian_smooth(cue, YAW_CUE_SECONDS * fps) / TURN_CUE_M)
    body_turn = np.where(gaussian_smooth(cue, TORSO_CUE_SECONDS * fps) >= 0, 1.0, -1.0)

    # --- bone directions: depth from the constant length, sign from the priors
    turned_side = {"hip_half": body_turn, "shoulder_half": body_turn, "ear_half": head_turn}
    directions = {
        key: _lift_direction(offsets[key], lengths[key.split(":")[0]], turned_side.get(key.split(":")[0], -1.0))
        for key in offsets
    }
    # --- joint limits
    directions["torso"] = rotate_toward(directions["torso"], _UP, TORSO_LEAN_LIMIT)
    directions["neck"] = rotate_toward(directions["neck"], directions["torso"], NECK_BEND_LIMIT)
    directions["shoulder_half"] = rotate_toward(directions["shoulder_half"], _LEFT, TORSO_TURN_LIMIT)
    for side in "LR":
        directions[f"forearm:{side}"] = rotate_toward(
            directions[f"forearm:{side}"], directions[f"upper_arm:{side}"], ELBOW_FLEXION_LIMIT
        )
    return directions


def _hips_sway(
    pelvis_units: np.ndarray, hip_line: np.ndarray, *, metres_per_unit: float, hip_sway: float, fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """The hips still, or a limited sway and turn: (offset [shape=(T, 3)] metres, turn about Z
    [shape=(T,)] radians) from the pelvis' image track [shape=(T, 2)] and the hip line's
    direction [shape=(T, 3)]."""
    frames = len(pelvis_units)
    sway = np.zeros((frames, 3))
    hips_turn = np.zeros(frames)
    if hip_sway > 0:
        drift = (pelvis_units - np.median(pelvis_units, 0)) * metres_per_unit * np.array([1.0, -1.0])
        drift = gaussian_smooth(drift, SWAY_SECONDS * fps)
        sway[:, [0, 2]] = hip_sway * np.clip(drift, -SWAY_LIMIT_M, SWAY_LIMIT_M)
        hips_turn = hip_sway * np.clip(
            gaussian_smooth(np.arctan2(hip_line[:, 1], hip_line[:, 0]), SWAY_SECONDS * fps),
            -SWAY_TURN_LIMIT_RAD,
            SWAY_TURN_LIMIT_RAD,
        )
    return sway, hips_turn


def _hand_directions(
    directions: dict[str, np.ndarray],
    channels: np.ndarray,
    *,
    joints: dict[str, np.ndarray],
    baton_side: str | None,
    fps: float,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(elbow hinge, hand direction, palm normal) by side ("L", "R") [each shape=(T, 3)]: each
    hand from its forearm and its channels [shape=(T, 2, 4)] (:mod:`core.retarget.hands`), the
    one on ``baton_side`` ("L", "R", or None for no baton) holding the baton, the other turned
    away from it where their fingers would meet (the wrists from ``joints``, metres, at ``fps``)."""
    hinge = {side: _elbow_hinge(directions[f"upper_arm:{side}"], directions[f"forearm:{side}"]) for side in "LR"}
    hand, palm = {}, {}
    for index, side in enumerate("LR"):
        inward = -_LEFT if side == "L" else _LEFT
        shape = baton_hand if side == baton_side else free_hand
        hand[side], palm[side] = shape(
            directions[f"forearm:{side}"], channels[:, index], inward=inward, up=_UP, back=-_FORWARD
        )
    wrists = {"L": joints["left_wrist"], "R": joints["right_wrist"]}
    turned_apart(wrists, hand, palm, free_side="L" if baton_side != "L" else "R", fps=fps)
    return hinge, hand, palm


def _tips(
    joints: dict[str, np.ndarray], hand: dict[str, np.ndarray], *, head_up: np.ndarray, baton_side: str
) -> dict[str, np.ndarray]:
    """The derived end joints [each shape=(T, 3)], metres: each hand's tip along its direction,
    the crown above the head along ``head_up``, and the baton's tip beyond the baton hand's."""
    tips = {}
    for side in "LR":
        wrist = joints["left_wrist" if side == "L" else "right_wrist"]
        tips[f"hand_tip.{side}"] = wrist + HAND_LENGTH_M * hand[side]
    tips["head_top"] = joints["head"] + HEAD_TOP_M * head_up
    tips["baton_tip"] = tips[f"hand_tip.{baton_side}"] + BATON_LENGTH_M * hand[baton_side]
    return tips


def _role_frames(
    directions: dict[str, np.ndarray],
    *,
    hinge: dict[str, np.ndarray],
    hand: dict[str, np.ndarray],
    palm: dict[str, np.ndarray],
    head_up: np.ndarray,
    baton_side: str,
    hips_turn: np.ndarray,
) -> dict[str, np.ndarray]:
    """:attr:`Lifted.role_frames`: the world rotation [shape=(T, 3, 3), float32] of every part
    the rigs animate, from the bone directions, the elbow hinges, hands and palms by side ("L",
    "R"), the head's up and the hips' turn about Z (radians). A hand's and the baton's frame has
    the palm's normal as its X axis."""
    frames = len(hips_turn)
    cos_turn, sin_turn = np.cos(hips_turn), np.sin(hips_turn)
    torso, shoulder_line = directions["torso"], directions["shoulder_half"]
    hip_line, ear_line = directions["hip_half"], directions["ear_half"]
    frames_by_role = {
        "hips": _frame32(np.broadcast_to(_UP, (frames, 3)), np.stack([cos_turn, sin_turn, np.zeros(frames)], -1)),
        "spine": _frame32(torso, shoulder_line + hip_line),
        "chest": _frame32(torso, shoulder_line),
        "neck": _frame32(directions["neck"], shoulder_line + ear_line),
        "head": _frame32(head_up, ear_line),
        "shoulder.L": _frame32(shoulder_line, torso),
        "shoulder.R": _frame32(-shoulder_line, torso),
        "baton": _frame32(hand[baton_side], palm[baton_side]),
    }
    for side in "LR":
        frames_by_role[f"upper_arm.{side}"] = _frame32(directions[f"upper_arm:{side}"], hinge[side])
        frames_by_role[f"forearm.{side}"] = _frame32(directions[f"forearm:{side}"], hinge[side])
        frames_by_role[f"hand.{side}"] = _frame32(hand[side], palm[side])
    return frames_by_role


def _frame32(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """:func:`orthonormal_frame` rounded to float32 [shape=(T, 3, 3)]."""
    return orthonormal_frame(primary, secondary, dtype=np.float32)


# ---------------------------------------------------------------- the kinematic tree in 2D
# Offsets (T, 2) of each lifted bone in the image plane. Keys "name" or "name:side"; paired
# joints (hips, shoulders, ears) are half the left-minus-right vector about their midpoint.


def _tree_offsets(flat: np.ndarray) -> dict[str, np.ndarray]:
    p = {name: flat[:, i] for i, name in enumerate(JOINT_NAMES)}
    neck = (p["left_shoulder"] + p["right_shoulder"]) / 2
    head = (p["left_ear"] + p["right_ear"]) / 2
    return {
        "hip_half": (p["left_hip"] - p["right_hip"]) / 2,
        "torso": neck,  # the pelvis is the origin
        "shoulder_half": (p["left_shoulder"] - p["right_shoulder"]) / 2,
        "upper_arm:L": p["left_elbow"] - p["left_shoulder"],
        "upper_arm:R": p["right_elbow"] - p["right_shoulder"],
        "forearm:L": p["left_wrist"] - p["left_elbow"],
        "forearm:R": p["right_wrist"] - p["right_elbow"],
        "neck": head - neck,
        "ear_half": (p["left_ear"] - p["right_ear"]) / 2,
        "nose": p["nose"] - head,
        "eye:L": p["left_eye"] - head,
        "eye:R": p["right_eye"] - head,
    }


def _flat_from_offsets(offsets: dict[str, np.ndarray]) -> np.ndarray:
    """Inverse of :func:`_tree_offsets` (the pelvis at the origin) [shape=(T, 13, 2)]."""
    neck = offsets["torso"]
    head = neck + offsets["neck"]
    p = {
        "left_hip": offsets["hip_half"],
        "right_hip": -offsets["hip_half"],
        "left_shoulder": neck + offsets["shoulder_half"],
        "right_shoulder": neck - offsets["shoulder_half"],
        "left_ear": head + offsets["ear_half"],
        "right_ear": head - offsets["ear_half"],
        "nose": head + offsets["nose"],
        "left_eye": head + offsets["eye:L"],
        "right_eye": head + offsets["eye:R"],
    }
    p["left_elbow"] = p["left_shoulder"] + offsets["upper_arm:L"]
    p["right_elbow"] = p["right_shoulder"] + offsets["upper_arm:R"]
    p["left_wrist"] = p["left_elbow"] + offsets["forearm:L"]
    p["right_wrist"] = p["right_elbow"] + offsets["forearm:R"]
    return np.stack([p[name] for name in JOINT_NAMES], 1)


def _both(*names: str):
    index = [_J[name] for name in names]
    return lambda observed: observed[:, index].all(-1)


_OBSERVED_BY_BONE = {
    "hip_half": _both("left_hip", "right_hip"),
    "torso": _both("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
    "shoulder_half": _both("left_shoulder", "right_shoulder"),
    "upper_arm": lambda o: np.concatenate(
        [_both("left_shoulder", "left_elbow")(o), _both("right_shoulder", "right_elbow")(o)]
    ),
    "forearm": lambda o: np.concatenate([_both("left_elbow", "left_wrist")(o), _both("right_elbow", "right_wrist")(o)]),
    "neck": _both("left_shoulder", "right_shoulder", "left_ear", "right_ear"),
    "ear_half": _both("left_ear", "right_ear"),
    "nose": _both("nose", "left_ear", "right_ear"),
    "eye": lambda o: np.concatenate(
        [_both("left_eye", "left_ear", "right_ear")(o), _both("right_eye", "left_ear", "right_ear")(o)]
    ),
}


def _pooled(offsets: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A bone's offsets, both sides stacked for the paired ones [shape=(T or 2T, 2)]."""
    if name in offsets:
        return offsets[name]
    return np.concatenate([offsets[f"{name}:L"], offsets[f"{name}:R"]])


def _robust_length(offset: np.ndarray | tuple, seen: np.ndarray) -> float:
    """95th percentile of a bone's image-plane length over frames where it was observed.

    The longest the bone ever looks is its true length (seen side-on); the percentile keeps
    a few wild frames from stretching it. 0 when never observed (the range clip takes over).
    """
    lengths = np.linalg.norm(offset, axis=-1).reshape(-1)
    seen = np.asarray(seen).reshape(-1)
    return float(np.percentile(lengths[seen], 95)) if seen.any() else 0.0


def _scale(units: np.ndarray, observed: np.ndarray) -> float:
    """Metres per image-height unit from the piece's shoulder width and torso height."""
    shoulders = units[:, _J["left_shoulder"]] - units[:, _J["right_shoulder"]]
    torso = (
        (units[:, _J["left_shoulder"]] + units[:, _J["right_shoulder"]])
        - (units[:, _J["left_hip"]] + units[:, _J["right_hip"]])
    ) / 2
    width = max(_robust_length(shoulders, _OBSERVED_BY_BONE["shoulder_half"](observed)), 1e-3)
    height = max(_robust_length(torso, _OBSERVED_BY_BONE["torso"](observed)), 1e-3)
    if not _OBSERVED_BY_BONE["torso"](observed).any():
        return SHOULDER_WIDTH_M / width if _OBSERVED_BY_BONE["shoulder_half"](observed).any() else 1.9
    return _scale_from(width, height)


def _scale_from(shoulder_width: float, torso_height: float) -> float:
    """Metres per image unit: the geometric mean of what the shoulders and the torso say (a
    turned torso narrows the shoulders, a leaning one shortens the torso)."""
    return float(np.sqrt(SHOULDER_WIDTH_M / shoulder_width * TORSO_HEIGHT_M / torso_height))


def _scale_gestures(offsets: dict[str, np.ndarray], amplitude: float) -> dict[str, np.ndarray]:
    """Scale every bone's image-plane offset about its median over the piece (hips kept)."""
    if amplitude == 1.0:
        return offsets
    scaled = {}
    for key, offset in offsets.items():
        if key == "hip_half":
            scaled[key] = offset
        else:
            median = np.median(offset, 0)
            scaled[key] = median + amplitude * (offset - median)
    return scaled


def _lift_direction(offset: np.ndarray, length_m: float, depth_sign: np.ndarray | float) -> np.ndarray:
    """Unit 3D direction [shape=(T, 3)] of a bone from its image offset [shape=(T, 2)] (X, Z).

    Depth = depth_sign * sqrt(length^2 - offset^2); an offset longer than the bone is
    shortened onto it (the bone then lies in the image plane).
    """
    seen = np.sqrt(offset[:, 0] ** 2 + offset[:, 1] ** 2)
    inside = np.minimum(seen, length_m)
    planar = offset * (inside / np.maximum(seen, 1e-12))[:, None]
    depth = depth_sign * np.sqrt(np.maximum(length_m**2 - inside**2, 0.0))
    vector = np.stack([planar[:, 0], depth, planar[:, 1]], -1)
    return normalize(vector, _FORWARD)


def _compose(directions: dict[str, np.ndarray], lengths: dict[str, float], pelvis: np.ndarray) -> dict[str, np.ndarray]:
    """World joint positions [shape=(T, 3)] by chaining directions times lengths."""
    j = {"pelvis": pelvis}
    j["left_hip"] = pelvis + lengths["hip_half"] * directions["hip_half"]
    j["right_hip"] = pelvis - lengths["hip_half"] * directions["hip_half"]
    j["neck"] = pelvis + lengths["torso"] * directions["torso"]
    j["spine"] = pelvis + SPINE_FRACTION * lengths["torso"] * directions["torso"]
    j["chest"] = pelvis + CHEST_FRACTION * lengths["torso"] * directions["torso"]
    j["left_shoulder"] = j["neck"] + lengths["shoulder_half"] * directions["shoulder_half"]
    j["right_shoulder"] = j["neck"] - lengths["shoulder_half"] * directions["shoulder_half"]
    for side, prefix in (("L", "left"), ("R", "right")):
        j[f"{prefix}_elbow"] = j[f"{prefix}_shoulder"] + lengths["upper_arm"] * directions[f"upper_arm:{side}"]
        j[f"{prefix}_wrist"] = j[f"{prefix}_elbow"] + lengths["forearm"] * directions[f"forearm:{side}"]
    j["head"] = j["neck"] + lengths["neck"] * directions["neck"]
    j["left_ear"] = j["head"] + lengths["ear_half"] * directions["ear_half"]
    j["right_ear"] = j["head"] - lengths["ear_half"] * directions["ear_half"]
    j["nose"] = j["head"] + lengths["nose"] * directions["nose"]
    j["left_eye"] = j["head"] + lengths["eye"] * directions["eye:L"]
    j["right_eye"] = j["head"] + lengths["eye"] * directions["eye:R"]
    return j


def _clear_of_chest(directions: dict[str, np.ndarray], lengths: dict[str, float]) -> dict[str, np.ndarray]:
    """The bone directions with every elbow and wrist in front of the chest.

    Where an arm bone's end lies within the chest's width and height but less than
    ``ARM_CLEARANCE_M`` in front of the spine line, the bone turns forward about its start
    until it is that far in front (all of it forward if too short), keeping its length; its
    sideways and vertical parts shrink in proportion. Upper arms first, then forearms.
    """
    directions = dict(directions)
    for side, prefix in (("L", "left"), ("R", "right")):
        for bone, end in (("upper_arm", f"{prefix}_elbow"), ("forearm", f"{prefix}_wrist")):
            joints = _compose(directions, lengths, np.zeros(3))
            spine = joints["neck"] - joints["pelvis"]
            up = normalize(spine, _UP)
            across = joints["left_shoulder"] - joints["right_shoulder"]
            across = normalize(across - dot3(across, up)[:, None] * up, _LEFT)
            forward = cross3(across, up)  # left x up: toward the audience
            reach = joints[end] - joints["pelvis"]
            inside = (
                (np.abs(dot3(reach, across)) < CHEST_HALF_WIDTH_SHARE * lengths["shoulder_half"])
                & (dot3(reach, up) > 0.0)
                & (dot3(reach, up) < dot3(spine, up))
            )
            short_m = np.where(inside, np.maximum(ARM_CLEARANCE_M - dot3(reach, forward), 0.0), 0.0)
            if not np.any(short_m > 0.0):
                continue
            key, length = f"{bone}:{side}", lengths[bone]
            vector = length * directions[key]
            ahead = dot3(vector, forward)
            wanted = np.minimum(ahead + short_m, length)
            rest = vector - ahead[:, None] * forward
            rest_length = np.sqrt(dot3(rest, rest))
            scale = np.sqrt(np.maximum(length**2 - wanted**2, 0.0)) / np.maximum(rest_length, 1e-12)
            moved = normalize(rest * scale[:, None] + wanted[:, None] * forward, forward)
            directions[key] = np.where((short_m > 0.0)[:, None], moved, directions[key])
    return directions


def _elbow_hinge(upper: np.ndarray, forearm: np.ndarray) -> np.ndarray:
    """The elbow's bending axis, upper x forearm [shape=(T, 3)], defined even for a straight arm.

    Where the arm is within 10 degrees of straight the axis is unreliable, so it is
    interpolated from the nearest bent frames; an arm never bent uses upper x forward (the
    forearm would bend forward), or upper x up when the arm points forward.
    """
    axis = cross3(upper, forearm)
    bent = dot3(axis, axis) > np.sin(np.radians(10.0)) ** 2
    if bent.all():
        return normalize(axis)
    fallback = cross3(upper, _FORWARD)
    fallback = np.where((dot3(fallback, fallback) > 0.09)[:, None], fallback, cross3(upper, _UP))
    if not bent.any():
        return normalize(fallback)
    frames = np.arange(len(axis))
    unit = normalize(axis[bent])
    filled = np.stack([np.interp(frames, frames[bent], unit[:, k]) for k in range(3)], -1)
    filled -= dot3(filled, upper)[:, None] * upper
    filled = np.where((dot3(filled, filled) > 1e-6)[:, None], filled, fallback)
    return normalize(np.where(bent[:, None], axis, filled))
