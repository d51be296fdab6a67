"""The beat grid in Blender: Analyse Beats puts it on the timeline as markers, the user edits them
with Blender's own tools, and Generate conducts on them (or on a beat file); in the installed
extension, real bpy, through the operators."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import DEMO_PIECE, PROJECT_ROOT, import_extension

bpy = pytest.importorskip("bpy")

from extension_install import install_extension  # noqa: E402


@pytest.fixture
def scene_with_demo(tmp_path: Path):
    install_extension()
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    settings = scene.virtual_conductor
    settings.music_path, settings.weights, settings.target, settings.add_sound = (
        str(DEMO_PIECE),
        "PROCEDURAL",
        "CREATE",
        False,
    )
    return scene


def beat_markers(scene) -> list[tuple[str, int]]:
    return sorted(
        ((m.name, m.frame) for m in scene.timeline_markers if m.name[:1] in "|0123456789"), key=lambda item: item[1]
    )


def right_wrist_track(scene, armature) -> np.ndarray:
    """The baton hand's world position at every frame of the scene (frames, 3)."""
    bone = armature.pose.bones["hand.R"]
    positions = []
    for frame in range(scene.frame_start, scene.frame_end + 1):
        scene.frame_set(frame)
        positions.append(np.array((armature.matrix_world @ bone.head)))
    return np.array(positions)


def test_analyse_beats_marks_bars_and_beats_and_leaves_the_users_markers(scene_with_demo) -> None:
    scene = scene_with_demo
    scene.timeline_markers.new("Intro", frame=5)
    scene.timeline_markers.new("12.7 take", frame=40)
    assert bpy.ops.conductor.analyse_beats(synchronous=True) == {"FINISHED"}
    marks = beat_markers(scene)
    assert len(marks) > 60
    downbeats = [name for name, _frame in marks if name.startswith("|")]
    assert downbeats[:3] == ["|1.1", "|2.1", "|3.1"]
    assert all(name.split(".")[1] != "1" for name, _ in marks if not name.startswith("|"))
    assert {"Intro", "12.7 take"} <= {m.name for m in scene.timeline_markers}
    assert scene.virtual_conductor.beat_source == "MARKERS"
    # The demo piece plays from its first beat: the music file moves later so that the conductor's
    # preparation (the ready point, then one beat at 120 a minute) fits before it, the markers with it.
    lead_in = scene.virtual_conductor.start_frame - 1
    assert lead_in == pytest.approx(0.5 * 30 + 15, abs=2) and marks[0] == ("|1.1", 1 + lead_in)
    first = len(scene.timeline_markers)
    assert bpy.ops.conductor.analyse_beats(synchronous=True) == {"FINISHED"}  # ours replaced, not stacked
    assert len(scene.timeline_markers) == first
    # Markers left where the music no longer is are named, in frames (not a file's seconds).
    settings = scene.virtual_conductor
    music_frame = settings.start_frame
    settings.start_frame = 1
    with pytest.raises(RuntimeError, match=r"The beat marker '.+' at frame \d+ lies after the music, which ends at"):
        bpy.ops.conductor.generate(synchronous=True)
    settings.start_frame = music_frame + 10
    with pytest.raises(RuntimeError, match=rf"The beat marker '\|1\.1' at frame {music_frame} lies before the music"):
        bpy.ops.conductor.generate(synchronous=True)
    # The networks' motion has no lead-in: for them Analyse Beats leaves Start Frame alone.
    settings = scene.virtual_conductor
    settings.start_frame, settings.weights = 1, "NEURAL"
    assert bpy.ops.conductor.analyse_beats(synchronous=True) == {"FINISHED"}
    assert settings.start_frame == 1 and beat_markers(scene)[0] == ("|1.1", 1)
    assert "The music starts at frame" not in settings.status
    analyse = bpy.types.Operator.bl_rna_get_subclass_py("CONDUCTOR_OT_analyse_beats")
    assert "UNDO" in analyse.bl_options  # one undo step


@pytest.mark.slow
def test_edited_markers_change_the_motion_there_and_nowhere_else(scene_with_demo) -> None:
    scene = scene_with_demo
    assert bpy.ops.conductor.analyse_beats(synchronous=True) == {"FINISHED"}
    music_frame = scene.virtual_conductor.start_frame  # moved for the lead-in
    assert bpy.ops.conductor.generate(synchronous=True) == {"FINISHED"}
    settings = scene.virtual_conductor
    # The markers' music stays put and the preparation fits before it: the take starts at frame 1.
    assert settings.start_frame == music_frame and scene.frame_start == 1
    assert "before any frame the scene can show" not in settings.status
    armature = settings.armature
    before = right_wrist_track(scene, armature)
    markers = [m for m in scene.timeline_markers if m.name[:1] in "|0123456789"]
    markers.sort(key=lambda m: m.frame)
    moved, deleted = markers[30], markers[50]  # one beat moved 5 frames later, another removed
    moved_from = moved.frame
    moved.frame += 5
    deleted_at = deleted.frame
    scene.timeline_markers.remove(deleted)
    settings.target = "EXISTING"
    assert bpy.ops.conductor.generate(synchronous=True) == {"FINISHED"}
    after = right_wrist_track(scene, armature)
    moved_by = np.linalg.norm(after - before, axis=1)
    changed = np.flatnonzero(moved_by > 1e-3) + scene.frame_start
    assert changed.size > 0
    bar_frames = int(round(4 * 0.5 * 30))  # a bar of the demo piece (4 beats at 120 a minute)
    near = (np.abs(changed - moved_from) <= 2 * bar_frames) | (np.abs(changed - deleted_at) <= 2 * bar_frames)
    assert near.all(), f"frames changed far from the edits: {changed[~near][:10]}"


def test_generate_conducts_on_a_beat_file_and_refuses_a_bad_one(scene_with_demo, tmp_path: Path) -> None:
    scene = scene_with_demo
    settings = scene.virtual_conductor
    good = tmp_path / "beats.txt"
    good.write_text("".join(f"{1.0 + 0.6 * i:.3f}\t{1.0 + 0.6 * i:.3f}\t{1 + i // 3}.{1 + i % 3}\n" for i in range(48)))
    settings.beat_source, settings.beats_file = "FILE", str(good)
    assert bpy.ops.conductor.generate(synchronous=True) == {"FINISHED"}
    from core.motion.keypoints import Motion  # noqa: F401  (the stored motion says what it was conducted on)

    stored = import_extension("addon.stored_motion")
    _armature, motion = stored.stored_motion(scene)
    assert motion.extra["beats_source"] == "given:labels" and motion.extra["meter"] == 3
    objects = sorted(bpy.data.objects.keys())
    bad = tmp_path / "unsorted.txt"
    bad.write_text("1.0\n3.0\n2.0\n")
    settings.beat_source, settings.beats_file, settings.target = "FILE", str(bad), "CREATE"
    with pytest.raises(RuntimeError, match="is not in order"):
        bpy.ops.conductor.generate(synchronous=True)
    assert sorted(bpy.data.objects.keys()) == objects  # nothing added
    settings.beat_source = "MARKERS"
    for marker in list(scene.timeline_markers):
        scene.timeline_markers.remove(marker)
    with pytest.raises(RuntimeError, match="no beat markers; press Analyse Beats"):
        bpy.ops.conductor.generate(synchronous=True)


@pytest.mark.slow
def test_headless_generate_honours_a_beat_grid(tmp_path: Path) -> None:
    grid = tmp_path / "grid.csv"
    grid.write_text(
        "time_s,bar,beat\n" + "".join(f"{1.0 + 0.75 * i:.3f},{1 + i // 2},{1 + i % 2}\n" for i in range(40))
    )
    out = tmp_path / "on the grid.blend"
    done = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "addon" / "headless_main.py"),
            "generate",
            str(DEMO_PIECE),
            "-o",
            str(out),
            "--weights",
            "procedural",
            "--beats",
            str(grid),
            "--no-camera",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    bpy.ops.wm.open_mainfile(filepath=str(out), load_ui=False)
    _armature, motion = import_extension("addon.stored_motion").stored_motion(bpy.context.scene)
    assert motion.extra["meter"] == 2 and motion.extra["beats_source"] == "given:labels"
    bad = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "addon" / "headless_main.py"),
            "generate",
            str(DEMO_PIECE),
            "-o",
            str(tmp_path / "x.blend"),
            "--beats",
            str(grid),
            "--meter",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 1 and "brings its own bars" in bad.stderr and not (tmp_path / "x.blend").exists()


def test_analyse_beats_over_edited_markers_says_which_edits_it_replaced(scene_with_demo) -> None:
    scene = scene_with_demo
    assert bpy.ops.conductor.analyse_beats(synchronous=True) == {"FINISHED"}
    marker_module = import_extension("addon.beat_markers")
    assert not marker_module.marker_edits(scene)  # as written
    tracked = dict(beat_markers(scene))
    markers = scene.timeline_markers
    markers["3.2"].frame += 9  # moved
    markers.remove(markers["5.3"])  # deleted
    markers.new("F_400", frame=400)  # added with M
    edits = marker_module.marker_edits(scene)
    assert (edits.moved, edits.deleted, edits.added) == (("3.2",), ("5.3",), ("F_400",))
    assert edits.sentence() == "moved 3.2; added F_400; deleted 5.3"
    # The synchronous path (scripts, blender -b) cannot ask: it replaces and says what it replaced.
    assert bpy.ops.conductor.analyse_beats(synchronous=True) == {"FINISHED"}
    status = scene.virtual_conductor.status
    assert "They replace the markers you moved 3.2; added F_400; deleted 5.3." in status
    assert dict(beat_markers(scene)) == tracked and "F_400" not in scene.timeline_markers


def test_analyse_beats_on_silence_says_so_and_leaves_the_timeline(scene_with_demo, tmp_path: Path) -> None:
    import soundfile

    scene = scene_with_demo
    silence = tmp_path / "silence.wav"
    soundfile.write(str(silence), np.zeros(22_050 * 8, dtype=np.float32), 22_050)
    scene.virtual_conductor.music_path = str(silence)
    scene.timeline_markers.new("Intro", frame=5)
    with pytest.raises(RuntimeError, match=r"No beats were heard in 'silence.wav'") as raised:
        bpy.ops.conductor.analyse_beats(synchronous=True)
    assert "beats.json" not in str(raised.value)
    assert [m.name for m in scene.timeline_markers] == ["Intro"]
