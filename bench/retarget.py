"""Retargeting speed: lift and solve a long piece, print frames per second.

    python bench/retarget.py [--minutes 120] [--preset conductor] [--mode FK]

The keypoints are a synthetic conductor beating time (with a few corrupted frames); the rig
is the add-on's conductor rig, or a Rigify-/Mixamo-named test skeleton for those presets.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.figure.rig import CONDUCTOR_BONES  # noqa: E402
from core.retarget import PRESETS, RestSkeleton, RetargetSettings, lift_to_3d, solve  # noqa: E402
from core.motion.skeleton import JOINT_COUNT  # noqa: E402

# A neutral pose (image units) that the synthetic motion moves around.
_NEUTRAL = np.array(
    [
        [0.50, 0.22],
        [0.52, 0.20],
        [0.48, 0.20],
        [0.54, 0.21],
        [0.46, 0.21],
        [0.60, 0.33],
        [0.40, 0.33],
        [0.66, 0.46],
        [0.34, 0.46],
        [0.60, 0.55],
        [0.40, 0.55],
        [0.56, 0.56],
        [0.44, 0.56],
    ]
)


def synthetic_keypoints(frames: int, fps: float = 30.0, seed: int = 0) -> np.ndarray:
    """(frames, 13, 2) float32: arms circling at 100 beats per minute, plus noise and holes."""
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.arange(frames) / fps * (100 / 60)
    keypoints = np.repeat(_NEUTRAL[None], frames, 0)
    for wrist, elbow, sign in ((9, 7, 1.0), (10, 8, -1.0)):
        keypoints[:, wrist, 0] += sign * 0.06 * np.sin(phase)
        keypoints[:, wrist, 1] -= 0.10 * np.abs(np.cos(phase / 2))
        keypoints[:, elbow, 0] += sign * 0.03 * np.sin(phase)
        keypoints[:, elbow, 1] -= 0.04 * np.abs(np.cos(phase / 2))
    keypoints += rng.normal(0, 0.002, keypoints.shape)
    keypoints[rng.integers(0, frames, frames // 500)] = 0.0  # dropped frames
    return keypoints.astype(np.float32)


def skeleton_for(preset: str) -> RestSkeleton:
    if preset == "conductor":
        return RestSkeleton.from_rig_bones(CONDUCTOR_BONES)
    # A chain in T-pose with the preset's names: the solve cost depends on bone count only.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from rigs import mixamo_skeleton, rigify_like_skeleton

    return rigify_like_skeleton() if preset == "rigify" else mixamo_skeleton()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0, help="piece length (default 120)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--preset", default="conductor", choices=sorted(PRESETS))
    parser.add_argument("--mode", default="FK", choices=("FK", "IK"))
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs")
    args = parser.parse_args()

    frames = int(args.minutes * 60 * args.fps)
    keypoints = synthetic_keypoints(frames, args.fps)
    skeleton = skeleton_for(args.preset)
    settings = RetargetSettings(mode=args.mode, hip_sway=0.3)
    assert keypoints.shape == (frames, JOINT_COUNT, 2)

    best_lift_s = best_solve_s = best_cpu_s = float("inf")
    for _ in range(args.repeats):
        cpu_start, start = time.process_time(), time.perf_counter()
        lifted = lift_to_3d(keypoints, settings, fps=args.fps)
        middle = time.perf_counter()
        animation = solve(lifted, skeleton, PRESETS[args.preset], settings=settings)
        end, cpu_end = time.perf_counter(), time.process_time()
        best_lift_s, best_solve_s = min(best_lift_s, middle - start), min(best_solve_s, end - middle)
        best_cpu_s = min(best_cpu_s, cpu_end - cpu_start)
    total_s = best_lift_s + best_solve_s
    print(
        f"{frames} frames ({args.minutes:g} min at {args.fps:g} fps), preset {args.preset}, "
        f"mode {args.mode}, {len(animation.rotation_quaternion)} rotated bones"
    )
    print(f"lift  {best_lift_s:7.3f} s  {frames / best_lift_s:12,.0f} frames/s")
    print(f"solve {best_solve_s:7.3f} s  {frames / best_solve_s:12,.0f} frames/s")
    print(f"total {total_s:7.3f} s  {frames / total_s:12,.0f} frames/s")
    # CPU time is steadier than wall time on a shared machine (numpy here is single-threaded).
    print(f"cpu   {best_cpu_s:7.3f} s  {frames / best_cpu_s:12,.0f} frames/s")


if __name__ == "__main__":
    main()
