"""Does the conductor look like one, in 3D, on real rigs? Issue 25's measures, after retargeting.

    python bench/pose_quality.py --real DIR [--limit 12] [--seconds 60] [--rigs conductor,rigify,mixamo] [--json OUT]

The procedural conductor conducts the first ``--seconds`` of each game-music excerpt in ``DIR``
(``bench/beat_tracking.py``'s 120-s excerpts; made there from the Debian packages when the folder
is empty), on the beats it tracks, with seed 0. Each motion is retargeted onto three rigs: our
conductor, a Rigify rig generated from the human metarig (with the ``bpy`` module; without it a
Rigify-named chain without fingers) and a Mixamo-named A-pose rig with fingers stored Y-up in
centimetres (tests/rigs.py). The rig's own bones are posed by forward kinematics (equal to
Blender's evaluation, tests/addon/test_retarget_blender.py) and measured in metres of the rig, in
its body's frame (x to the conductor's left, y back, z up):

- posture: the elbow below the shoulder-wrist line (share of frames) and how far it flares out
  from straight down (median degrees); the free hand at rest (its wrist slower than 3 cm/s over
  half a second while conducting): its height between hips (0) and shoulders (1), and how often it
  sits on the hip; the beat plane (the baton wrist at each beat, the same share) and its rise
  with the beat's loudness (metres per 10 dB); the baton line's elevation (median degrees) and how
  often it points at the floor (below -30 degrees) or back at the body (the hand bone's line: the
  baton continues it);
- clashes: frames with the hands (wrist to middle fingertip) closer than 8 cm, forearms crossing
  seen from the front, a hand, fingertip or the baton inside the body (an elliptic cylinder 0.85
  shoulder half-widths wide and 11 cm deep about the spine line, and the head's sphere);
- the head: the largest jump of its centre in one frame (cm), how far its turn lags the baton
  hand's path across (seconds) and how much further it turns to the left for a cue (degrees);
- hands: the 5th-95th percentile range of each wrist's turn against its forearm (the free hand's
  while it is at work, not resting) and of its index finger's middle joint (degrees);
- bars: the correlation of consecutive bars' baton-hand paths (3D, each bar sampled at 48 points,
  centred), median over pairs of bars of equal length (within 3 %) and level (within 3 dB), and
  the ictus alignment (the baton wrist's lowest points against the conductor's own beats, sigma 0.1 s).

Each line prints the median over the pieces with its ratio to issue 25's goal.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "tests"))
sys.path.append(str(ROOT / "bench"))

from core.audio.decode import load_audio  # noqa: E402
from core.figure.rig import CONDUCTOR_BONES  # noqa: E402
from core.motion.keypoints import Motion  # noqa: E402
from core.procedural.conductor import conduct  # noqa: E402
from core.retarget import RestSkeleton  # noqa: E402
from pose_measures import GOALS, Posed, level_per_frame, measure  # noqa: E402  (tests/pose_measures.py)

SAMPLE_RATE_HZ = 22_050


def rigs(names: list[str]) -> dict[str, tuple[RestSkeleton, str]]:
    """(rest skeleton, mapping preset) of each rig asked for."""
    from rigs import mixamo_skeleton, rigify_like_skeleton

    table: dict[str, tuple[RestSkeleton, str]] = {}
    for name in names:
        if name == "conductor":
            table[name] = (RestSkeleton.from_rig_bones(CONDUCTOR_BONES), "conductor")
        elif name == "mixamo":
            table[name] = (mixamo_skeleton(y_up=True, scale=100.0, fingers=True), "mixamo")
        elif name == "rigify":
            table[name] = (generated_rigify() or rigify_like_skeleton(), "rigify")
    return table


def generated_rigify() -> RestSkeleton | None:
    """The rest pose of a Rigify rig generated from the human metarig, or None without ``bpy``."""
    try:
        import bpy  # noqa: F401  (before addon_utils, which the bpy module provides)
        import addon_utils
    except ImportError:
        print("(no bpy module: the Rigify rig is a Rigify-named chain without fingers)")
        return None
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("rigify", default_set=True, handle_error=None)
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.pose.rigify_generate()
    rig = bpy.data.objects["rig"]
    return RestSkeleton.from_blender_bones(rig.data.bones)


def conducted(path: Path, seconds: float) -> tuple[Motion, np.ndarray]:
    """The procedural conductor on the first ``seconds`` of ``path`` (seed 0), and the music's
    level per motion frame (dB, 30 fps)."""
    samples = load_audio(path)[: int(seconds * SAMPLE_RATE_HZ)]
    motion = conduct(samples, seed=0)
    return motion, level_per_frame(motion, samples, SAMPLE_RATE_HZ)


def ratio_to_goal(name: str, value: float) -> float:
    """How far ``value`` is toward its goal: above 1 better than the goal, 1 on it; for a goal of
    "never" (<= 0), 1 when met, else the share of frames left free (1 - value)."""
    goal, sense = GOALS[name]
    if sense == ">=":
        return value / goal if goal else (1.0 if value >= 0 else 0.0)
    return goal / value if goal and value > 0 else (1.0 - value if goal == 0 else float("inf"))


def verdict(name: str, values: list[float]) -> str:
    """One line: the median and the worst piece, the goal and the ratio of each to it."""
    goal, sense = GOALS[name]
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return f"  {name:26s} {'n/a':>8s}"
    median = float(np.median(values))
    worst = max(values) if sense == "<=" else min(values)
    met = worst <= goal if sense == "<=" else worst >= goal
    return (
        f"  {name:26s} median {median:8.3f} (ratio {ratio_to_goal(name, median):5.2f})  worst {worst:8.3f} "
        f"(ratio {ratio_to_goal(name, worst):5.2f})   goal {sense} {goal:<6g} {'meets' if met else 'SHORT'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, required=True, help="folder of the game-music excerpts (made if empty)")
    parser.add_argument("--limit", type=int, default=12, help="pieces, spread over the folder")
    parser.add_argument("--seconds", type=float, default=60.0, help="of each excerpt")
    parser.add_argument("--rigs", default="conductor,rigify,mixamo")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()

    from beat_tracking import real_excerpts  # bench/: the excerpts the beat tracker is measured on

    pieces = sorted(args.real.glob("*.wav")) or real_excerpts(args.real)
    pieces = [pieces[i] for i in np.unique(np.linspace(0, len(pieces) - 1, args.limit).round().astype(int))]
    table = rigs(args.rigs.split(","))
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in table}
    for path in pieces:
        motion, level_db = conducted(path, args.seconds)
        if len(motion.extra["beats_s"]) < 16:
            print(f"{path.stem}: too few beats, skipped")
            continue
        line = []
        for rig_name, (skeleton, preset) in table.items():
            values = measure(motion, Posed(motion, skeleton, preset), level_db)
            for name, value in values.items():
                figures[rig_name].setdefault(name, []).append(value)
            line.append(f"{rig_name} corr {values['bar_correlation']:.2f} clash {values['clash']:.3f}")
        print(f"{path.stem[:40]:40s} meter {motion.extra['meter']}  " + "  ".join(line), flush=True)
    for rig, measured in figures.items():
        print(f"\n{rig} ({len(measured.get('clash', []))} pieces of {args.seconds:g} s), median and worst piece:")
        for name in GOALS:
            if name in measured:
                print(verdict(name, measured[name]))
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "pieces": [p.name for p in pieces]}, indent=1))


if __name__ == "__main__":
    main()
