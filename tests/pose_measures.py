"""Issue 25's measures of a conductor in 3D, on a rig's own bones after retargeting: posture,
clashes, the head, the hands and the bars. Shared by bench/pose_quality.py (real recordings) and
the tests (tests/core/retarget/test_pose_in_3d.py, tests/addon/test_retarget_blender.py).

Every position is in metres of the rig, in its body's frame: x to the conductor's left, y back,
z up, from its hips; the rig is posed by :func:`core.retarget.forward_kinematics` (equal to
Blender's own evaluation, tests/addon/test_retarget_blender.py).
"""

from __future__ import annotations

import numpy as np

from core.motion.keypoints import Motion
from core.procedural.loudness import loudness_30fps
from core.neural.beat_lock import beat_alignment, ictus_times
from core.retarget import PRESETS, RestSkeleton, RetargetSettings, forward_kinematics, retarget
from core.retarget.solve import _RigBody

CLASH_M, BODY_DEPTH_M, BODY_WIDTH_SHARE, HEAD_RADIUS_M = 0.08, 0.11, 0.85, 0.10
BATON_M = 0.40
EDGE_S = 1.0  # beats this close to either end of a cut excerpt are not scored for alignment
# (goal, "<=" or ">="): the goals of issue 25, each measure's name as :func:`measure` gives it.
GOALS = {
    "elbow_below_line": (0.95, ">="),
    "elbow_flare_deg": (30.0, "<="),
    "rest_height": (0.15, ">="),
    "on_hip": (0.0, "<="),
    "beat_plane_height": (0.30, ">="),
    "plane_rise_m_per_10db": (0.02, ">="),
    "baton_elevation_deg": (0.0, ">="),
    "baton_at_floor_or_body": (0.0, "<="),
    "clash": (0.0, "<="),
    "crossing": (0.0, "<="),
    "inside_body": (0.0, "<="),
    "head_jump_cm": (1.5, "<="),
    "head_lag_s": (0.05, ">="),
    "cue_turn_deg": (3.0, ">="),
    "wrist_range_deg": (20.0, ">="),
    "free_wrist_range_deg": (20.0, ">="),
    "finger_range_deg": (30.0, ">="),
    "bar_correlation": (0.90, "<="),
    "ictus_alignment": (0.95, ">="),
}


class Posed:
    """A rig's bones posed over a piece, in metres in its body's frame (x left, y back, z up)."""

    def __init__(self, motion: Motion, skeleton: RestSkeleton, preset: str) -> None:
        mapping = PRESETS[preset].fitted_to(skeleton.bones)
        self.mapping, self.fps = mapping, motion.fps
        animation = retarget(
            motion.keypoints,
            skeleton,
            mapping,
            settings=RetargetSettings(),
            skeleton_units=motion.extra.get("skeleton_units"),
            hands=motion.hands,
            noise_free=bool(motion.extra.get("noise_free", False)),
        )
        self.body = body = _RigBody(skeleton, mapping)
        self.posed = forward_kinematics(skeleton, animation, mapping=mapping)
        self.skeleton, self.axes, self.scale = skeleton, body.axes, body.units_per_metre
        self.origin = skeleton.bones[mapping.bones["hips"]].head

    def head(self, role: str) -> np.ndarray:
        """The posed head of the role's bone [shape=(T, 3)], metres."""
        return self._metres(self.posed[self.mapping.bones[role]][:, :3, 3])

    def along(self, role: str, share: float) -> np.ndarray:
        """A point ``share`` of the way along the role's bone [shape=(T, 3)], metres."""
        bone = self.mapping.bones[role]
        matrix = self.posed[bone]
        return self._metres(matrix[:, :3, 3] + share * self.skeleton.bones[bone].length * matrix[:, :3, 1])

    def axis(self, role: str, column: int = 1) -> np.ndarray:
        """One axis of the role's bone [shape=(T, 3)], unit, in the body's frame."""
        return self.posed[self.mapping.bones[role]][:, :3, column] @ self.axes

    def face(self) -> np.ndarray:
        """Where the head faces [shape=(T, 3)], unit, in the body's frame (the head role's front
        at rest, turned as the head bone is)."""
        bone = self.mapping.bones["head"]
        rest = self.skeleton.bones[bone].matrix_local[:3, :3]
        front = self.body.rest_frame("head", bone)[:, 2]
        return (self.posed[bone][:, :3, :3] @ (rest.T @ front)) @ self.axes

    def relative(self, child: str, parent: str) -> np.ndarray:
        """The child role's bone turned against the parent role's from their rest relation
        [shape=(T, 3, 3)]."""
        a, b = self.mapping.bones[parent], self.mapping.bones[child]
        rest = self.skeleton.bones[a].matrix_local[:3, :3].T @ self.skeleton.bones[b].matrix_local[:3, :3]
        posed = np.swapaxes(self.posed[a][:, :3, :3], 1, 2) @ self.posed[b][:, :3, :3]
        return posed @ rest.T

    def fingertip(self, side: str) -> np.ndarray:
        """The middle finger's tip, else the hand's tip [shape=(T, 3)], metres."""
        role = f"middle.03.{side}" if f"middle.03.{side}" in self.mapping.bones else f"hand.{side}"
        return self.along(role, 1.0)

    def _metres(self, points: np.ndarray) -> np.ndarray:
        return (points - self.origin) @ self.axes / self.scale


def segment_distance(a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """Closest distance between segments a0-a1 and b0-b1 per frame [shape=(T,)], sampled finely."""
    u = np.linspace(0.0, 1.0, 9)
    a = a0[:, None] + u[None, :, None] * (a1 - a0)[:, None]
    b = b0[:, None] + u[None, :, None] * (b1 - b0)[:, None]
    return np.linalg.norm(a[:, :, None] - b[:, None, :], axis=-1).min(axis=(1, 2))


def crossing(pose: Posed) -> np.ndarray:
    """Frames [shape=(T,), bool] whose forearms cross seen from the front (x, z)."""
    p, q = pose.head("forearm.L")[:, [0, 2]], pose.head("hand.L")[:, [0, 2]]
    r, s = pose.head("forearm.R")[:, [0, 2]], pose.head("hand.R")[:, [0, 2]]

    def side(a, b, c):
        return np.sign((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))

    return (side(p, q, r) != side(p, q, s)) & (side(r, s, p) != side(r, s, q))


def inside_body(pose: Posed, points: list[np.ndarray]) -> np.ndarray:
    """Frames [shape=(T,), bool] where any of ``points`` [each shape=(T, 3)] is inside the torso's
    elliptic cylinder or the head's sphere."""
    pelvis, neck = pose.head("hips"), pose.head("neck")
    up = neck - pelvis
    height = np.linalg.norm(up, axis=1, keepdims=True)
    up = up / height
    across = pose.head("upper_arm.L") - pose.head("upper_arm.R")
    half_width = BODY_WIDTH_SHARE * np.linalg.norm(across, axis=1) / 2
    across = across - np.sum(across * up, axis=1, keepdims=True) * up
    across /= np.linalg.norm(across, axis=1, keepdims=True)
    forward = np.cross(across, up)
    head = pose.along("head", 0.5)
    hit = np.zeros(len(pelvis), bool)
    for point in points:
        offset = point - pelvis
        level = np.sum(offset * up, axis=1)
        ellipse = (np.sum(offset * across, axis=1) / half_width) ** 2 + (
            np.sum(offset * forward, axis=1) / BODY_DEPTH_M
        ) ** 2
        hit |= ((level > 0) & (level < height[:, 0]) & (ellipse < 1.0)) | (
            np.linalg.norm(point - head, axis=1) < HEAD_RADIUS_M
        )
    return hit


def elbow_measures(pose: Posed, side: str, frames: np.ndarray) -> tuple[float, float]:
    """(share of ``frames`` with the elbow below the shoulder-wrist line, median flare outward
    from straight down in degrees) of one arm."""
    shoulder, elbow, wrist = pose.head(f"upper_arm.{side}"), pose.head(f"forearm.{side}"), pose.head(f"hand.{side}")
    line = wrist - shoulder
    line /= np.linalg.norm(line, axis=1, keepdims=True)
    offset = (elbow - shoulder) - np.sum((elbow - shoulder) * line, axis=1, keepdims=True) * line
    down = np.array([0.0, 0.0, -1.0]) - line[:, 2:3] * -line
    outward = np.array([1.0 if side == "L" else -1.0, 0.0, 0.0]) - line[:, 0:1] * line * (1.0 if side == "L" else -1.0)
    below = np.sum(offset * down, axis=1) > 0
    flare = np.degrees(np.arctan2(np.sum(offset * outward, axis=1), np.sum(offset * down, axis=1)))
    return float(below[frames].mean()), float(np.median(flare[frames]))


def bar_correlation(wrist: np.ndarray, downbeats_s: np.ndarray, level_db: np.ndarray, times_s: np.ndarray) -> float:
    """Median correlation of consecutive bars' paths [shape=(T, 3)] of equal length and level;
    ``times_s`` [shape=(T,)] each frame's time in the music."""
    paths, lengths, levels = [], [], []
    for start_s, end_s in zip(downbeats_s[:-1], downbeats_s[1:]):
        samples_s = np.linspace(start_s, end_s, 48, endpoint=False)
        path = np.stack([np.interp(samples_s, times_s, wrist[:, k]) for k in range(3)], axis=1)
        paths.append(path - path.mean(axis=0))
        lengths.append(end_s - start_s)
        levels.append(float(np.mean(np.interp(samples_s, times_s, level_db))))
    values = [
        float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)))
        for a, b, la, lb, da, db in zip(paths, paths[1:], lengths, lengths[1:], levels, levels[1:])
        if abs(la - lb) <= 0.03 * la and abs(da - db) <= 3.0
    ]
    return float(np.median(values)) if values else float("nan")


def rotation_range(pose: Posed, child: str, parent: str, frames: np.ndarray) -> float:
    """The 5th-95th percentile range (degrees) of the child bone's turn against its parent over
    ``frames``, along the axis it turns about most (signed, so a flex either way counts)."""
    matrix = pose.relative(child, parent)[frames]
    angle = np.arccos(np.clip((np.trace(matrix, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0))
    axis = np.stack(
        [matrix[:, 2, 1] - matrix[:, 1, 2], matrix[:, 0, 2] - matrix[:, 2, 0], matrix[:, 1, 0] - matrix[:, 0, 1]], 1
    )
    vector = axis / np.maximum(2.0 * np.sin(angle), 1e-9)[:, None] * angle[:, None]
    principal = np.linalg.svd(vector - vector.mean(axis=0), full_matrices=False)[2][0]
    low, high = np.percentile(vector @ principal, [5, 95])
    return float(np.degrees(high - low))


def head_lag_s(yaw: np.ndarray, hand_x: np.ndarray, fps: float) -> float:
    """How far behind the baton hand's path across (``hand_x`` [shape=(T,)]) the head's turn
    (``yaw`` [shape=(T,)]) follows, seconds: the lag of their best cross-correlation within 1 s."""
    a, b = yaw - yaw.mean(), hand_x - hand_x.mean()
    lags = np.arange(0, int(fps) + 1)
    scores = [np.sum(a[lag:] * b[: len(b) - lag]) for lag in lags]
    return float(lags[int(np.argmax(scores))] / fps)


def level_per_frame(motion: Motion, samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """The music's level at each frame of ``motion`` [shape=(T,)], dB (the procedural
    conductor's loudness; in the lead-in before the music, its first frame's, as the conductor reads it)."""
    music = loudness_30fps(samples, sample_rate_hz, motion.frame_count - motion.lead_in_frames)
    return np.pad(music, (motion.lead_in_frames, 0), mode="edge")


def measure(motion: Motion, pose: Posed, level_db: np.ndarray) -> dict[str, float]:
    """Every measure of bench/pose_quality.py's docstring for one piece on one rig, by name (see
    ``GOALS``); ``level_db`` [shape=(T,)] is the music's level per motion frame (dB)."""
    beats_s = np.asarray(motion.extra["beats_s"])
    conducting = (motion.times_s >= beats_s[0]) & (motion.times_s <= beats_s[-1])
    result = posture(motion, pose, level_db, conducting=conducting)
    result.update(clashes(pose, conducting=conducting))
    result.update(head_and_hands(motion, pose, conducting=conducting))
    result.update(bars(motion, pose, level_db))
    return result


def posture(motion: Motion, pose: Posed, level_db: np.ndarray, *, conducting: np.ndarray) -> dict[str, float]:
    """The elbows, the free hand at rest, the beat plane and its rise, the baton's line."""
    fps, beats_s = motion.fps, np.asarray(motion.extra["beats_s"])
    pelvis, shoulders = pose.head("hips"), (pose.head("upper_arm.L") + pose.head("upper_arm.R")) / 2
    span = shoulders[:, 2] - pelvis[:, 2]
    result: dict[str, float] = {}
    below_r, flare_r = elbow_measures(pose, "R", conducting)
    below_l, flare_l = elbow_measures(pose, "L", conducting)
    result["elbow_below_line"], result["elbow_flare_deg"] = min(below_r, below_l), max(flare_r, flare_l)
    left = pose.head("hand.L")
    at_rest = resting(pose, fps) & conducting
    height = (left[:, 2] - pelvis[:, 2]) / span
    forward = -(left[:, 1] - pelvis[:, 1])
    on_hip = (forward < 0.08) & (np.abs(left[:, 0] - pelvis[:, 0]) > 0.10) & (height > -0.15) & (height < 0.35)
    result["rest_height"] = float(np.median(height[at_rest])) if at_rest.any() else float("nan")
    result["on_hip"] = float(on_hip[conducting].mean())
    right = pose.head("hand.R")
    beat_frames = motion.frames_at(beats_s)
    result["beat_plane_height"] = float(np.median((right[beat_frames, 2] - pelvis[beat_frames, 2]) / span[beat_frames]))
    beat_db = level_db[beat_frames]
    heard = beat_db > -30
    spread = np.ptp(np.percentile(beat_db[heard], [10, 90])) if heard.sum() > 8 else 0.0
    result["plane_rise_m_per_10db"] = (  # where the music's dynamics span at least 4 dB
        float(10.0 * np.polyfit(beat_db[heard], right[beat_frames[heard], 2], 1)[0]) if spread >= 4.0 else float("nan")
    )
    baton = pose.axis("hand.R")
    elevation = np.degrees(np.arcsin(np.clip(baton[:, 2], -1, 1)))
    result["baton_elevation_deg"] = float(np.median(elevation[conducting]))
    backward = baton[:, 1] > 0.2  # +y is the body's back
    result["baton_at_floor_or_body"] = float(((elevation < -30) | backward)[conducting].mean())
    return result


def clashes(pose: Posed, *, conducting: np.ndarray) -> dict[str, float]:
    """Shares of the conducting frames with the hands too close, the forearms crossing, or a
    hand, fingertip or the baton inside the body."""
    wrists = {side: pose.head(f"hand.{side}") for side in "LR"}
    tips = {side: pose.fingertip(side) for side in "LR"}
    distance = segment_distance(wrists["L"], tips["L"], wrists["R"], tips["R"])
    baton = pose.axis("hand.R")
    points = [wrists["L"], wrists["R"], tips["L"], tips["R"]]
    points += [pose.along("hand.R", 1.0) + share * BATON_M * baton for share in (0.5, 1.0)]
    points += [pose.along(f"hand.{side}", 0.5) for side in "LR"]
    return {
        "clash": float((distance < CLASH_M)[conducting].mean()),
        "crossing": float(crossing(pose)[conducting].mean()),
        "inside_body": float(inside_body(pose, points)[conducting].mean()),
    }


def head_and_hands(motion: Motion, pose: Posed, *, conducting: np.ndarray) -> dict[str, float]:
    """The head's largest jump, its lag behind the baton hand and its turn to cues; the wrists'
    and the free hand's fingers' ranges (the free hand's while it is at work, not resting)."""
    head = pose.along("head", 0.5)
    face = pose.face()
    yaw = np.degrees(np.arctan2(face[:, 0], -face[:, 1]))  # toward the conductor's left: positive
    gesturing = ~resting(pose, motion.fps) & conducting
    at_work = gesturing.sum() > motion.fps
    result = {
        "head_jump_cm": float(100 * np.linalg.norm(np.diff(head, axis=0), axis=1).max()),
        "head_lag_s": head_lag_s(yaw[conducting], pose.head("hand.R")[conducting, 0], motion.fps),
        "wrist_range_deg": rotation_range(pose, "hand.R", "forearm.R", conducting),
        "free_wrist_range_deg": rotation_range(pose, "hand.L", "forearm.L", gesturing) if at_work else float("nan"),
    }
    hands = getattr(motion, "hands", None)  # (a motion from before hand channels has none)
    if hands is not None:
        cueing = (hands[:, 0, 3] > 0.7) & conducting
        result["cue_turn_deg"] = (
            float(yaw[cueing].mean() - np.median(yaw[conducting])) if cueing.any() else float("nan")
        )
    if "index.02.L" in pose.mapping.bones and at_work:
        result["finger_range_deg"] = rotation_range(pose, "index.02.L", "index.01.L", gesturing)
    return result


def resting(pose: Posed, fps: float) -> np.ndarray:
    """Frames [shape=(T,), bool] where the free (left) wrist moves slower than 3 cm/s over half a second."""
    left = pose.head("hand.L")
    speed = np.linalg.norm(np.gradient(left, axis=0), axis=1) * fps
    window = max(1, int(fps / 2))
    return np.convolve(speed, np.ones(window) / window, mode="same") < 0.03


def bars(motion: Motion, pose: Posed, level_db: np.ndarray) -> dict[str, float]:
    """Consecutive bars' correlation, and the ictus alignment to the conductor's own beats (those
    ``EDGE_S`` from the ends of the motion, which a cut excerpt may cut through)."""
    fps, right = motion.fps, pose.head("hand.R")
    beats_s = np.asarray(motion.extra["beats_s"])
    inside = beats_s[(beats_s >= EDGE_S) & (beats_s <= motion.times_s[-1] - EDGE_S)]
    height_image = np.zeros((motion.frame_count, 13, 2))
    height_image[:, 10, 1] = -right[:, 2]  # ictus_times looks for the lowest points (largest image y)
    return {
        "bar_correlation": bar_correlation(right, np.asarray(motion.extra["downbeats_s"]), level_db, motion.times_s),
        "ictus_alignment": beat_alignment(inside, ictus_times(height_image, fps=fps, start_s=motion.times_s[0]))
        if inside.size
        else float("nan"),
    }
