"""Pictures of the conductor in 3D, rendered headless with Cycles: one bar of each meter at each
beat's ictus from the front and the side, and the free hand's gestures in close-up.

    python bench/conductor_stills.py meters OUT.png [--size 170] [--samples 8]
    python bench/conductor_stills.py hands OUT.png [--size 260] [--samples 12]

``meters`` conducts synthetic music (a tone changing on every beat, legato, one steady level) in
1, 2, 3, 4, 5 (2+3) and 6 on the beats it was made with, seed 0, and renders the fourth bar of
each at every ictus, the front view beside the side view (from the conductor's right, the
orchestra to the right). ``hands`` conducts a piece that asks (a crescendo), calms (a subito
piano), cues (an entrance) and ends (a cut-off) and renders the free hand at each gesture from
the front and a little to its side. Both need the ``bpy`` module; Cycles on the CPU, no denoising
(about two minutes for ``meters`` on two cores).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "tests"))

METERS = ((1, 150.0, "1"), (2, 100.0, "2"), (3, 100.0, "3"), (4, 100.0, "4"), (5, 100.0, "5 (2+3)"), (6, 100.0, "6"))
BAR = 3  # the fourth bar: well after the preparation


def extension():
    """The add-on's package, imported as Blender loads it (addon/headless_main.py)."""
    spec = importlib.util.spec_from_file_location("headless_main", ROOT / "addon" / "headless_main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.import_extension


def scene_with(motion):
    """A fresh scene with our conductor keyed to ``motion`` (no music), set up for Cycles."""
    import bpy

    ext = extension()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 30
    apply = ext("addon.apply")
    options = ext("core.options").from_values(apply.ApplyOptions, {"add_sound": False})
    armature, _ = apply.put_motion_in_scene(scene, motion, options, camera=False)
    scene.render.engine = "CYCLES"
    scene.cycles.use_denoising = False
    scene.render.resolution_percentage = 100
    scene.world = bpy.data.worlds.new("Backdrop")
    scene.world.color = (0.22, 0.22, 0.24)
    return scene, armature


def camera(scene, name: str, location, target, lens: float = 70.0):
    import bpy
    from mathutils import Vector

    data = bpy.data.cameras.new(name)
    data.lens = lens
    obj = bpy.data.objects.new(name, data)
    scene.collection.objects.link(obj)
    obj.location = location
    obj.rotation_euler = (Vector(target) - Vector(location)).to_track_quat("-Z", "Y").to_euler()
    return obj


def render(scene, cam, frame: int, *, size: int, samples: int, folder: Path) -> np.ndarray:
    """One still [shape=(size, size, 4)] of ``frame`` (scene frames, 1 at 0 s) from ``cam``."""
    import bpy
    import matplotlib.pyplot as plt

    scene.camera = cam
    scene.cycles.samples = samples
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.frame_set(frame)
    scene.render.filepath = str(folder / f"{cam.name}_{frame}.png")
    bpy.ops.render.render(write_still=True)
    return plt.imread(scene.render.filepath)


def steady_bars(meter: int, bpm: float):
    """The procedural conductor on 7 bars of steady legato music in ``meter`` on its own beats."""
    from core.procedural.conductor import conduct
    from rigs import played

    samples, track = played(meter, bpm, 7, strong=(0, 2) if meter == 5 else (0,))
    return conduct(samples, seed=0, beats=track), track


def meters(out: Path, *, size: int, samples: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(METERS), 12, figsize=(12 * 1.5, len(METERS) * 1.62))
    with tempfile.TemporaryDirectory() as folder:
        for row, (meter, bpm, name) in zip(axes, METERS):
            motion, track = steady_bars(meter, bpm)
            scene, _ = scene_with(motion)
            front = camera(scene, "Front", (0.0, -2.3, 1.38), (0.0, -0.15, 1.3))
            side = camera(scene, "Side", (-2.3, -0.3, 1.38), (0.0, -0.3, 1.3))
            beats = track.beats_s[track.bar_number == BAR]
            for column in range(6):
                for view, cam in enumerate((front, side)):
                    axis = row[2 * column + view]
                    axis.set_axis_off()
                    if column >= beats.size:
                        continue
                    frame = int(motion.frames_at(beats[column])) + 1  # the take from frame 1
                    axis.imshow(render(scene, cam, frame, size=size, samples=samples, folder=Path(folder)))
                    axis.set_title(f"{name}: beat {column + 1}, {'front' if view == 0 else 'side'}", fontsize=7)
    figure.suptitle("One bar of each meter at each beat's ictus, front and side (headless Cycles)", fontsize=10)
    figure.tight_layout()
    figure.savefig(out, dpi=72)
    print(f"wrote {out}")


def gesture_piece():
    """A piece in 4 at 100 a minute: soft, a crescendo (ask), loud, a subito piano (calm), an
    entrance after a rest (cue), and a held last note cut off."""
    from core.procedural.conductor import conduct
    from core.procedural.style import ConductingStyle
    from rigs import played

    gains = np.concatenate(
        [np.full(12, -10.0), np.linspace(-10.0, 4.0, 16), np.full(8, 4.0), np.full(12, -16.0), np.full(8, 2.0)]
    )
    samples, track = played(4, 100.0, 14, gains_db=gains, last_beats=3.0)
    return conduct(samples, seed=0, beats=track, style=ConductingStyle(left_hand_activity=2.0))


def gesture_frames(motion) -> dict[str, int]:
    """The frame (scene frames) of each of the free hand's gestures: the last of its fullest
    frames (the hand then highest in a rising ask, lowest in a calming one), the first of the
    closed hand's."""
    flex, turn, curl, point = motion.hands[:, 0].T
    later = motion.times_s > 4.0  # past the opening (its cue is the first entrance)
    picks = {
        "asks (palm up)": (turn > 2.6) & (curl < 0.2),
        "calms (palm down)": (turn < 0.1) & (flex < -0.45),
        "cues (points)": (point > 0.97) & later,
        "cuts off (closes)": (curl > 0.9) & (point < 0.05),
    }
    frames = {name: np.flatnonzero(chosen) for name, chosen in picks.items() if chosen.any()}
    # The cut-off where the hand has just closed; the others at their fullest.
    return {name: int(found[0 if "closes" in name else -1]) + 1 for name, found in frames.items()}


def hands(out: Path, *, size: int, samples: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    motion = gesture_piece()
    scene, armature = scene_with(motion)
    frames = gesture_frames(motion)
    figure, axes = plt.subplots(1, len(frames), figsize=(len(frames) * 2.6, 2.9))
    with tempfile.TemporaryDirectory() as folder:
        for axis, (name, frame) in zip(axes, frames.items()):
            scene.frame_set(frame)
            hand = armature.matrix_world @ armature.pose.bones["hand.L"].tail
            target = (hand.x - 0.05, hand.y, hand.z)  # a little toward the body: the hand with its arm
            cam = camera(scene, f"Close {frame}", (0.5, -1.5, 1.35 + 0.6 * (hand.z - 1.35)), target, lens=55.0)
            axis.imshow(render(scene, cam, frame, size=size, samples=samples, folder=Path(folder)))
            axis.set_axis_off()
            axis.set_title(f"the free hand {name}", fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=80)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, size, samples in (("meters", 170, 8), ("hands", 260, 12)):
        command = commands.add_parser(name)
        command.add_argument("out", type=Path)
        command.add_argument("--size", type=int, default=size, help="pixels a still (square)")
        command.add_argument("--samples", type=int, default=samples, help="Cycles samples a pixel")
    args = parser.parse_args()
    (meters if args.command == "meters" else hands)(args.out, size=args.size, samples=args.samples)


if __name__ == "__main__":
    main()
    import os

    os._exit(0)  # the bpy module can crash in the interpreter's teardown (addon/headless_main.py)
