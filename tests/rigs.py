"""Rigs and motions the retargeting tests share: a synthetic conducting body in metres and its
image, the procedural conductor on the demo piece, synthetic music with the beats it was made
with, and rest skeletons of our conductor, a Mixamo-named rig (Z-up or Y-up, any scale, with or
without fingers) and a Rigify-like rig with IK controls."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np

from core.beats.track import BeatTrack
from core.figure.rig import CONDUCTOR_BONES
from core.motion.skeleton import JOINT_INDEX
from core.retarget import RestSkeleton

METRES_PER_UNIT = 1.9  # image height of the synthetic camera, metres
SAMPLE_RATE_HZ = 22_050
SCALE_HZ = (261.63, 293.66, 329.63, 349.23, 392.00, 440.00, 493.88, 523.25)  # C major, C4 to C5
DEMO_PIECE = Path(__file__).resolve().parents[1] / "core" / "assets" / "demo_piece.ogg"


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def synthetic_joints_m(frames: int = 240, fps: float = 30.0, seed: int = 0) -> np.ndarray:
    """A 3D conductor beating 2/4 (T, 13, 3), metres, Blender's frame: the test's ground truth."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    phase = 2 * np.pi * t / 1.2 + rng.uniform(0, 1)
    joints = np.zeros((frames, 13, 3))
    pelvis = np.array([0.0, 0.0, 1.0])
    turn = 0.25 * np.sin(0.3 * t)  # torso yaw, radians
    lean = 0.15 + 0.05 * np.sin(phase)
    up = np.stack([np.zeros(frames), -np.sin(lean), np.cos(lean)], -1)
    lateral = np.stack([np.cos(turn), np.sin(turn), np.zeros(frames)], -1)
    neck = pelvis + 0.42 * up
    j = JOINT_INDEX
    joints[:, j["left_hip"]] = pelvis + 0.11 * lateral
    joints[:, j["right_hip"]] = pelvis - 0.11 * lateral
    joints[:, j["left_shoulder"]] = neck + 0.19 * lateral
    joints[:, j["right_shoulder"]] = neck - 0.19 * lateral
    for side, sign in (("left", 1.0), ("right", -1.0)):
        swing = phase + (0.0 if side == "right" else 0.4)
        upper = _unit(
            np.stack(
                [sign * (0.5 + 0.3 * np.sin(swing)), -0.8 - 0.2 * np.cos(swing), -0.6 + 0.4 * np.sin(2 * swing)], -1
            )
        )
        fore = _unit(np.stack([sign * (0.1 + 0.3 * np.cos(swing)), -1.0 + 0.0 * swing, 0.2 + 0.5 * np.sin(swing)], -1))
        elbow = joints[:, j[f"{side}_shoulder"]] + 0.28 * upper
        joints[:, j[f"{side}_elbow"]] = elbow
        joints[:, j[f"{side}_wrist"]] = elbow + 0.26 * fore
    head = neck + 0.2 * up
    face_turn = turn + 0.4 * np.sin(0.5 * t)
    face_lateral = np.stack([np.cos(face_turn), np.sin(face_turn), np.zeros(frames)], -1)
    face_forward = np.stack([np.sin(face_turn), -np.cos(face_turn), np.zeros(frames)], -1)
    joints[:, j["left_ear"]] = head + 0.075 * face_lateral
    joints[:, j["right_ear"]] = head - 0.075 * face_lateral
    joints[:, j["nose"]] = head + 0.1 * face_forward - 0.02 * up
    joints[:, j["left_eye"]] = head + 0.08 * face_forward + 0.03 * face_lateral + 0.01 * up
    joints[:, j["right_eye"]] = head + 0.08 * face_forward - 0.03 * face_lateral + 0.01 * up
    return joints


def to_image(joints_m: np.ndarray) -> np.ndarray:
    """Orthographic camera facing the conductor: (T, 13, 3) metres -> (T, 13, 2) image units."""
    x = 0.5 + joints_m[..., 0] / METRES_PER_UNIT
    y = 0.5 - (joints_m[..., 2] - 1.2) / METRES_PER_UNIT
    return np.stack([x, y], -1).astype(np.float32)


def synthetic_keypoints(frames: int = 240, seed: int = 0) -> np.ndarray:
    return to_image(synthetic_joints_m(frames, seed=seed))


@functools.lru_cache(maxsize=None)
def procedural_motion(gesture_size: float = 1.0):
    """The procedural conductor on the first 12 s of the demo piece (360 frames) at a gesture size."""
    from core.audio.decode import load_audio
    from core.procedural.conductor import conduct
    from core.procedural.style import ConductingStyle

    samples = load_audio(DEMO_PIECE)[: 12 * 22_050]
    return conduct(samples, seed=0, style=ConductingStyle(gesture_size=gesture_size))


# ------------------------------------------------------------------ synthetic music with known beats


def played(
    meter: int,
    bpm: float,
    bars: int,
    *,
    start_s: float = 1.5,
    staccato: bool = False,
    gains_db: np.ndarray | None = None,
    strong: tuple[int, ...] = (0,),
    last_beats: float = 1.0,
    tail_s: float = 3.0,
) -> tuple[np.ndarray, BeatTrack]:
    """Synthetic music in bars of ``meter``: see :func:`tones`; the last note lasts
    ``last_beats`` beats, then ``tail_s`` of silence.

    Returns (samples at 22,050 Hz, the beats it was made with).
    """
    period_s = 60.0 / bpm
    beats_s = start_s + period_s * np.arange(meter * bars)
    lengths_s = np.full(beats_s.size, period_s)
    lengths_s[-1] = last_beats * period_s
    return tones(beats_s, lengths_s, meter, staccato=staccato, gains_db=gains_db, strong=strong, tail_s=tail_s)


def tones(
    beats_s: np.ndarray,
    lengths_s: np.ndarray,
    meter: int,
    *,
    staccato: bool = False,
    gains_db: np.ndarray | None = None,
    strong: tuple[int, ...] = (0,),
    tail_s: float = 3.0,
) -> tuple[np.ndarray, BeatTrack]:
    """A tone changing pitch on every beat and lasting ``lengths_s`` (legato), or a third of
    that with a hard attack (staccato); the places in ``strong`` 2 dB louder, each beat at
    ``gains_db`` (default 0 dB).

    Returns (samples at 22,050 Hz, the beats in bars of ``meter`` from the first).
    """
    gains_db = np.zeros(beats_s.size) if gains_db is None else np.asarray(gains_db, dtype=float)
    t = np.arange(int((beats_s[-1] + lengths_s[-1] + tail_s) * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    samples = np.zeros(t.size)
    rng = np.random.default_rng(meter)
    step = 3
    for i, (beat, length_s) in enumerate(zip(beats_s, lengths_s)):
        step = int(np.clip(step + rng.choice([-2, -1, 1, 2]), 0, len(SCALE_HZ) - 1))
        # Joined notes overlap by 30 ms, as a legato line has no gap.
        length_s = length_s * 0.3 if staccato and i < beats_s.size - 1 else length_s + 0.03
        inside = (t >= beat) & (t < beat + length_s)
        local = t[inside] - beat
        attack_s = 0.004 if staccato else 0.04
        envelope = np.minimum(local / attack_s, 1.0) * np.clip((beat + length_s - t[inside]) / 0.02, 0.0, 1.0)
        level = 0.2 * 10 ** ((gains_db[i] + (2.0 if i % meter in strong else 0.0)) / 20)
        samples[inside] += (
            level * envelope * sum(np.sin(2 * np.pi * n * SCALE_HZ[step] * local) / n for n in range(1, 5))
        )
    place = np.arange(beats_s.size) % meter
    track = BeatTrack(
        beats_s=beats_s,
        downbeats_s=beats_s[place == 0],
        bar_position=place,
        meter=meter,
        tempo_bpm=60.0 / float(np.median(np.diff(beats_s))),
    )
    return samples.astype(np.float32), track


def conductor_skeleton() -> RestSkeleton:
    return RestSkeleton.from_rig_bones(CONDUCTOR_BONES)


# Mixamo's names and typical rest (A-ish pose, bones rolled as the FBX importer leaves them).
MIXAMO_ROWS = (
    ("mixamorig:Hips", None, (0, 0, 1.00), (0, 0, 1.10), 0.0),
    ("mixamorig:Spine", "mixamorig:Hips", (0, 0, 1.10), (0, 0.01, 1.22), 0.0),
    ("mixamorig:Spine1", "mixamorig:Spine", (0, 0.01, 1.22), (0, 0.01, 1.35), 0.0),
    ("mixamorig:Spine2", "mixamorig:Spine1", (0, 0.01, 1.35), (0, 0.01, 1.50), 0.0),
    ("mixamorig:Neck", "mixamorig:Spine2", (0, 0.01, 1.50), (0, -0.01, 1.60), 0.0),
    ("mixamorig:Head", "mixamorig:Neck", (0, -0.01, 1.60), (0, -0.01, 1.80), 0.0),
    ("mixamorig:LeftShoulder", "mixamorig:Spine2", (0.06, 0.0, 1.45), (0.17, 0.02, 1.46), 1.3),
    ("mixamorig:LeftArm", "mixamorig:LeftShoulder", (0.17, 0.02, 1.46), (0.40, 0.03, 1.30), 1.9),
    ("mixamorig:LeftForeArm", "mixamorig:LeftArm", (0.40, 0.03, 1.30), (0.60, 0.01, 1.16), 2.1),
    ("mixamorig:LeftHand", "mixamorig:LeftForeArm", (0.60, 0.01, 1.16), (0.67, 0.0, 1.11), 2.0),
    ("mixamorig:RightShoulder", "mixamorig:Spine2", (-0.06, 0.0, 1.45), (-0.17, 0.02, 1.46), -1.3),
    ("mixamorig:RightArm", "mixamorig:RightShoulder", (-0.17, 0.02, 1.46), (-0.40, 0.03, 1.30), -1.9),
    ("mixamorig:RightForeArm", "mixamorig:RightArm", (-0.40, 0.03, 1.30), (-0.60, 0.01, 1.16), -2.1),
    ("mixamorig:RightHand", "mixamorig:RightForeArm", (-0.60, 0.01, 1.16), (-0.67, 0.0, 1.11), -2.0),
)


def _mixamo_fingers() -> tuple:
    """Mixamo's finger bones (Thumb1-4, Index1-4, ... Pinky1-4 of each hand), laid out on the
    A-pose hands of MIXAMO_ROWS, palms down and in, with the rolls an FBX import leaves."""
    rows = []
    heads_tails = {name: (np.array(head, float), np.array(tail, float)) for name, _, head, tail, _ in MIXAMO_ROWS}
    for side, sign in (("Left", 1.0), ("Right", -1.0)):
        head, tail = heads_tails[f"mixamorig:{side}Hand"]
        along = _unit(tail - head)
        palm = _unit(np.array([0.0, 0.0, -1.0]) - along * along[2] * -1.0)
        palm = _unit(palm - np.dot(palm, along) * along)
        across = sign * np.cross(along, palm)  # from the index toward the little finger
        layout = {  # knuckle (along, across, palm-ward) from the hand's tail, direction, lengths
            "Thumb": ((-0.045, -0.022, 0.012), 0.55 * along - 0.75 * across + 0.3 * palm, (0.032, 0.026, 0.022)),
            "Index": ((0.012, -0.025, 0.0), along - 0.05 * across, (0.037, 0.024, 0.02)),
            "Middle": ((0.016, -0.007, 0.0), along, (0.042, 0.027, 0.021)),
            "Ring": ((0.012, 0.011, 0.0), along + 0.05 * across, (0.039, 0.025, 0.02)),
            "Pinky": ((0.002, 0.027, 0.0), along + 0.12 * across, (0.03, 0.019, 0.017)),
        }
        for finger, ((a, c, p), direction, lengths) in layout.items():
            unit = _unit(np.asarray(direction))
            start = tail + a * along + c * across + p * palm
            parent = f"mixamorig:{side}Hand"
            for joint, length in enumerate((*lengths, 0.012), 1):
                end = start + length * unit
                name = f"mixamorig:{side}Hand{finger}{joint}"
                rows.append(
                    (name, parent, tuple(np.round(start, 5)), tuple(np.round(end, 5)), sign * (0.4 + 0.3 * joint))
                )
                start, parent = end, name
    return tuple(rows)


MIXAMO_FINGER_ROWS = _mixamo_fingers()


def mixamo_skeleton(y_up: bool = False, scale: float = 1.0, *, fingers: bool = False) -> RestSkeleton:
    """Mixamo-named rest skeleton; ``y_up`` stores it in a Y-up armature space (as FBX);
    ``fingers`` adds the finger bones."""

    def place(p):
        p = np.asarray(p, float) * scale
        return np.array([p[0], p[2], -p[1]]) if y_up else p

    rows = MIXAMO_ROWS + (MIXAMO_FINGER_ROWS if fingers else ())
    return RestSkeleton.from_head_tail_roll(
        (name, parent, place(head), place(tail), roll) for name, parent, head, tail, roll in rows
    )


# The bones the preset uses and everything between them, with their rest pose, as Rigify
# generates them from the human metarig (Blender 5.0); the IK controls' MCH parents are
# parentless, moved by Armature constraints (the preset's "follow").
RIGIFY_ROWS = (
    ("MCH-torso.parent", None, (0, 0.0362, 1.0836), (0, 0.1671, 1.0836), 0.0000),
    ("torso", "MCH-torso.parent", (0, 0.0362, 1.0836), (0, 0.4288, 1.0836), 0.0000),
    ("chest", "torso", (0, 0.0004, 1.2929), (0, 0.2185, 1.2929), 0.0000),
    ("MCH-spine.002", "torso", (0, 0.0004, 1.2929), (0, 0.0658, 1.2929), 0.0000),
    ("spine_fk.002", "MCH-spine.002", (0, 0.0004, 1.2929), (0, 0.0059, 1.4657), 0.0000),
    ("MCH-spine.003", "spine_fk.002", (0, 0.0059, 1.4657), (0, 0.0713, 1.4657), 0.0000),
    ("spine_fk.003", "MCH-spine.003", (0, 0.0059, 1.4657), (0, 0.0114, 1.6582), 0.0000),
    ("tweak_spine.003", "spine_fk.003", (0, 0.0059, 1.4657), (0, 0.0087, 1.5619), 0.0000),
    ("ORG-spine.003", "tweak_spine.003", (0, 0.0059, 1.4657), (0, 0.0114, 1.6582), 0.0000),
    ("shoulder.L", "ORG-spine.003", (0.0183, -0.0684, 1.6051), (0.1694, 0.0205, 1.605), 0.0004),
    ("ORG-shoulder.L", "ORG-spine.003", (0.0183, -0.0684, 1.6051), (0.1694, 0.0205, 1.605), 0.0004),
    ("MCH-upper_arm_parent.L", "ORG-shoulder.L", (0.1953, 0.0267, 1.5846), (0.1953, 0.0988, 1.5846), 0.0000),
    ("upper_arm_fk.L", "MCH-upper_arm_parent.L", (0.1953, 0.0267, 1.5846), (0.4424, 0.0885, 1.4491), 2.2930),
    ("forearm_fk.L", "upper_arm_fk.L", (0.4424, 0.0885, 1.4491), (0.6594, 0.0492, 1.3061), 2.3713),
    ("shoulder.R", "ORG-spine.003", (-0.0183, -0.0684, 1.6051), (-0.1694, 0.0205, 1.605), -0.0004),
    ("ORG-shoulder.R", "ORG-spine.003", (-0.0183, -0.0684, 1.6051), (-0.1694, 0.0205, 1.605), -0.0004),
    ("MCH-upper_arm_parent.R", "ORG-shoulder.R", (-0.1953, 0.0267, 1.5846), (-0.1953, 0.0988, 1.5846), -0.0000),
    ("upper_arm_fk.R", "MCH-upper_arm_parent.R", (-0.1953, 0.0267, 1.5846), (-0.4424, 0.0885, 1.4491), -2.2930),
    ("forearm_fk.R", "upper_arm_fk.R", (-0.4424, 0.0885, 1.4491), (-0.6594, 0.0492, 1.3061), -2.3713),
    ("MCH-hand_fk.L", "forearm_fk.L", (0.6594, 0.0492, 1.3061), (0.6754, 0.0472, 1.2942), 2.4340),
    ("hand_fk.L", "MCH-hand_fk.L", (0.6594, 0.0492, 1.3061), (0.7234, 0.0412, 1.2585), 2.4340),
    ("MCH-hand_fk.R", "forearm_fk.R", (-0.6594, 0.0492, 1.3061), (-0.6754, 0.0472, 1.2942), -2.4340),
    ("hand_fk.R", "MCH-hand_fk.R", (-0.6594, 0.0492, 1.3061), (-0.7234, 0.0412, 1.2585), -2.4340),
    ("root", None, (0, 0, 0), (0, 1, 0), 0.0000),
    ("MCH-hand_ik.parent.L", None, (0.6594, 0.0492, 1.3061), (0.6594, 0.0759, 1.3061), 0.0000),
    ("hand_ik.L", "MCH-hand_ik.parent.L", (0.6594, 0.0492, 1.3061), (0.7234, 0.0412, 1.2585), 2.4340),
    ("MCH-hand_ik.parent.R", None, (-0.6594, 0.0492, 1.3061), (-0.6594, 0.0759, 1.3061), 0.0000),
    ("hand_ik.R", "MCH-hand_ik.parent.R", (-0.6594, 0.0492, 1.3061), (-0.7234, 0.0412, 1.2585), -2.4340),
    ("MCH-ROT-neck", "spine_fk.003", (0, 0.0114, 1.6582), (0, 0.0776, 1.6582), 0.0000),
    ("neck", "MCH-ROT-neck", (0, 0.0114, 1.6582), (0, -0.0247, 1.7813), 0.0000),
    ("MCH-ROT-head", "neck", (0, -0.0247, 1.7813), (0, 0.1736, 1.7813), 0.0000),
    ("head", "MCH-ROT-head", (0, -0.0247, 1.7813), (0, -0.0247, 1.9796), 0.0000),
    ("MCH-upper_arm_ik_target.parent.L", None, (0.4832, 0.6172, 1.5598), (0.4832, 0.6398, 1.5598), 0.0000),
    (
        "upper_arm_ik_target.L",
        "MCH-upper_arm_ik_target.parent.L",
        (0.4832, 0.6172, 1.5598),
        (0.4781, 0.5511, 1.5459),
        0.0000,
    ),
    ("MCH-upper_arm_ik_target.parent.R", None, (-0.4832, 0.6172, 1.5598), (-0.4832, 0.6398, 1.5598), 0.0000),
    (
        "upper_arm_ik_target.R",
        "MCH-upper_arm_ik_target.parent.R",
        (-0.4832, 0.6172, 1.5598),
        (-0.4781, 0.5511, 1.5459),
        -0.0000,
    ),
)


def rigify_like_skeleton() -> RestSkeleton:
    """Rigify's IK controls read their location in their parent's axes (local location off)."""
    skeleton = RestSkeleton.from_head_tail_roll(RIGIFY_ROWS)
    for name in ("hand_ik.L", "hand_ik.R", "upper_arm_ik_target.L", "upper_arm_ik_target.R"):
        skeleton.bones[name] = dataclasses.replace(skeleton.bones[name], local_location=False)
    return skeleton


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cosine = np.sum(_unit(a) * _unit(b), -1)
    return np.degrees(np.arccos(np.clip(cosine, -1, 1)))
