"""Time the bulk keyframe writer on a 10-minute piece: 18,000 frames (30 fps) on every bone of
the conductor rig (rotations, plus the hips' location), against the 1 s goal. The machine is
shared, so it prints the best and the median of a few runs.

Run: ``python bench/keyframes.py`` with the ``bpy`` module installed.
"""

from __future__ import annotations

import runpy
import time
import types
from pathlib import Path

import bpy
import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FRAMES = 18_000  # 10 minutes at 30 fps
GOAL_S = 1.0
REPEATS = 5

# The add-on imported as Blender loads it (the repository root as a package), by the headless
# entry point's import_extension: import_extension("addon.keyframes") returns that module.
import_extension = runpy.run_path(str(PROJECT_ROOT / "addon" / "headless_main.py"))["import_extension"]


def wobbling_quaternions(frames: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth unit quaternions (frames, 4), w x y z, turning a little around a random axis."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = 0.4 * np.sin(np.arange(frames) * rng.uniform(0.05, 0.3))
    return np.concatenate([np.cos(angle / 2)[:, None], np.sin(angle / 2)[:, None] * axis], axis=1)


def main() -> None:
    conductor_body = import_extension("addon.conductor_body")
    keyframes = import_extension("addon.keyframes")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 30
    armature = conductor_body.create_conductor(scene, camera=False, lights=False, stage=False)
    rng = np.random.default_rng(0)
    animation = types.SimpleNamespace(
        rotation_quaternion={bone.name: wobbling_quaternions(FRAMES, rng) for bone in armature.pose.bones},
        location={"hips": 0.02 * rng.normal(size=(FRAMES, 3)).cumsum(0) / np.sqrt(FRAMES)},
    )

    timings = []
    for _ in range(REPEATS):  # each run writes a new action, as apply_motion does
        start = time.perf_counter()
        curves = keyframes.bone_curves(animation, start_frame=1)
        written = keyframes.write_action(armature, "Conductor: bench", curves, interpolation="LINEAR")
        timings.append(time.perf_counter() - start)
    best, median = min(timings), float(np.median(timings))
    print(
        f"keyframes (Blender {bpy.app.version_string}): {written.fcurve_count} F-Curves x {FRAMES} "
        f"frames ({written.key_count} keys): best {best:.3f} s, median {median:.3f} s of {REPEATS}; "
        f"best is {best / GOAL_S:.2f} x the {GOAL_S:.0f} s goal"
    )


if __name__ == "__main__":
    main()
