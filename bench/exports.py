"""Exports of a big rig as a user runs them: whole-process seconds of headless ``export`` for each
format, a 120-s piece keyed onto a Rigify rig, against issue 26's goal for the .glb (< 20 s).

    python bench/exports.py [--seconds 120] [--repeat 3] [--all-bones]

The rig is Rigify's, generated from the human metarig (706 bones, 160 that deform), with a sphere
skinned to its chest standing in for a character's mesh (the exporters then write a skin, as for
a real character); the procedural conductor is keyed onto it through the ``rigify`` mapping by
headless ``generate``. Each export runs in its own process (Blender's start-up included), the
median of ``--repeat`` runs. Quote the figures as measured in one run: the machine may be shared.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HEADLESS = [sys.executable, str(ROOT / "addon" / "headless_main.py")]
GOAL_GLB_S = 20.0  # issue 26: a 120-s Rigify .glb on 2 cores
FORMATS = (".glb", ".fbx", ".bvh")

# A Rigify rig with a skinned stand-in mesh, saved as the scene the user animates.
RIGIFY_SCENE = """
import sys
import bpy
import addon_utils  # Blender's, found once bpy is imported
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.fps = 30
addon_utils.enable("rigify", default_set=True)
bpy.ops.object.armature_human_metarig_add()
bpy.ops.pose.rigify_generate()
bpy.data.objects.remove(bpy.data.objects["metarig"])
rig = scene.objects["rig"]
bpy.ops.mesh.primitive_uv_sphere_add(segments=64, ring_count=32, radius=0.3, location=(0, 0, 1.3))
body = bpy.context.active_object
body.parent = rig
body.modifiers.new("Armature", "ARMATURE").object = rig
body.vertex_groups.new(name="DEF-spine.003").add(list(range(len(body.data.vertices))), 1.0, "REPLACE")
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[-1])
print(len(rig.data.bones), sum(bone.use_deform for bone in rig.data.bones))
"""


def run(command: list[str], label: str) -> tuple[float, str]:
    """(wall seconds, stdout) of ``command``; exits with its stderr, after ``label``, if it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{label} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the piece")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each export (median)")
    parser.add_argument("--all-bones", action="store_true", help="export every bone, not only the deform ones")
    args = parser.parse_args()

    from bench.lengths import write_piece

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        music = write_piece(work, args.seconds)
        stage = work / "rigify.blend"
        _, printed = run([sys.executable, "-c", RIGIFY_SCENE, str(stage)], "the Rigify scene")
        bones, deform = printed.split()[-2:]
        animated = work / "animated.blend"
        seconds, _ = run(
            [*HEADLESS, "generate", str(music), "-o", str(animated), "--scene", str(stage), "--armature", "rig"]
            + ["--mapping", "rigify", "--no-add-sound"],
            "generate",
        )
        print(f"Rigify rig ({bones} bones, {deform} deform), {args.seconds:g}-s piece keyed in {seconds:.1f} s")
        which = ["--all-bones"] if args.all_bones else []
        for suffix in FORMATS:
            command = [*HEADLESS, "export", str(animated), "-o", str(work / f"out{suffix}"), *which]
            median = statistics.median(run(command, f"export {suffix}")[0] for _ in range(max(1, args.repeat)))
            size_mb = (work / f"out{suffix}").stat().st_size / 2**20
            line = f"  export {suffix:<5} {median:6.1f} s  ({size_mb:.1f} MB)"
            if suffix == ".glb" and args.seconds == 120.0 and not args.all_bones:
                verdict = "met" if median <= GOAL_GLB_S else "SHORT"
                line += f"   goal < {GOAL_GLB_S:g} s  ratio {GOAL_GLB_S / median:.2f}  {verdict}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
