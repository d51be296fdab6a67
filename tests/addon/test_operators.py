"""The add-on's operators in real bpy (the installed extension, no mocked Blender), and the
generation worker as a real subprocess.

Bad input must give one clear report and leave the scene exactly as it was. Reports of level
ERROR reach Python as the RuntimeError that ``bpy.ops`` raises, so the text is checked there.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import DEMO_PIECE, OFFICIAL_GENERATOR, write_tone
from extension_install import install_extension

MUSIC = DEMO_PIECE


def options(**values):
    from core.generate_options import GenerateOptions

    return GenerateOptions(**values)


@pytest.fixture(scope="module")
def extension() -> dict:
    return install_extension()


@pytest.fixture(scope="module")
def worker(extension: dict):
    """The installed copy's worker module (it runs ``python -m core`` from the installed folder)."""
    import importlib

    return importlib.import_module(extension["package"] + ".addon.worker")


@pytest.fixture
def bpy_scene(extension: dict):
    """An empty file with the add-on enabled; returns bpy."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    assert hasattr(bpy.context.scene, "virtual_conductor")
    return bpy


def scene_state(bpy) -> dict:
    """What a failed run must not change."""
    scene = bpy.context.scene
    editor = scene.sequence_editor
    strips = getattr(editor, "strips_all", None) if editor else None
    if editor is not None and strips is None:
        strips = editor.sequences_all
    return {
        "objects": sorted(bpy.data.objects.keys()),
        "actions": sorted(bpy.data.actions.keys()),
        "collections": sorted(bpy.data.collections.keys()),
        "meshes": len(bpy.data.meshes),
        "range": (scene.frame_start, scene.frame_end),
        "camera": scene.camera.name if scene.camera else None,
        "strips": sorted(strip.name for strip in strips) if strips is not None else [],
    }


def settings_for(bpy, **values):
    settings = bpy.context.scene.virtual_conductor
    settings.music_path = str(MUSIC)
    settings.weights = "OFFICIAL"
    settings.official_weights_path = str(OFFICIAL_GENERATOR)
    for name, value in values.items():
        setattr(settings, name, value)
    return settings


def assert_fails_cleanly(bpy, match: str) -> None:
    before = scene_state(bpy)
    with pytest.raises(RuntimeError, match=match):
        bpy.ops.conductor.generate(synchronous=True)
    assert scene_state(bpy) == before
    assert not bpy.context.scene.virtual_conductor.is_running


def keyed_frame_range(action) -> tuple[float, float]:
    frames = []
    curves = getattr(action, "fcurves", None)
    if curves is None or len(curves) == 0:  # Blender 5.0: curves live in layered channelbags
        curves = [
            curve
            for layer in action.layers
            for strip in layer.strips
            for bag in strip.channelbags
            for curve in bag.fcurves
        ]
    for curve in curves:
        keys = np.empty(2 * len(curve.keyframe_points), dtype=np.float32)
        curve.keyframe_points.foreach_get("co", keys)
        frames.extend(keys[0::2])
    assert frames, "the action has no keyframes"
    return min(frames), max(frames)


# ---------------------------------------------------------------------------- success
@pytest.fixture(scope="module")
def official_run(extension: dict, tmp_path_factory) -> dict:
    """One synchronous run with the official checkpoint onto a freshly created conductor,
    keeping a copy of the motion; returns what the tests check, as plain data (later tests
    load other files, which frees this scene)."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    kept = tmp_path_factory.mktemp("kept") / "motion.npz"
    settings = settings_for(bpy, target="CREATE", save_motion_path=str(kept))
    result = bpy.ops.conductor.generate(synchronous=True)
    scene, armature = bpy.context.scene, settings.armature
    action = armature.animation_data.action if armature and armature.animation_data else None
    return {
        "result": result,
        "kept": kept,
        "armature": (armature.name, armature.type) if armature else None,
        "target": settings.target,
        "action": action.name if action else None,
        "keyed": keyed_frame_range(action) if action else None,
        "range": (scene.frame_start, scene.frame_end),
        "status": settings.status,
        "job": (settings.is_running, settings.progress),
    }


@pytest.mark.slow
def test_generate_with_official_checkpoint_keys_the_scene_range(official_run: dict) -> None:
    run = official_run
    assert run["result"] == {"FINISHED"}
    assert run["armature"] is not None and run["armature"][1] == "ARMATURE"
    assert run["target"] == "EXISTING"
    assert run["action"] is not None and run["action"].startswith("Conductor")
    (first, last), (start, end) = run["keyed"], run["range"]
    assert first <= start and last >= end
    assert end - start > 30 * 20  # the piece is longer than 20 s
    assert run["status"].startswith(f"Conducting written to '{run['armature'][0]}'")
    assert run["job"] == (False, 0.0)


def test_a_second_conductor_stands_beside_the_first_and_leaves_the_scene_as_it_was(bpy_scene) -> None:
    bpy = bpy_scene
    scene = bpy.context.scene
    assert bpy.ops.conductor.create_conductor() == {"FINISHED"}
    first = scene.virtual_conductor.armature
    camera, lights = scene.camera, sorted(o.name for o in scene.objects if o.type == "LIGHT")
    assert camera is not None and lights
    assert bpy.ops.conductor.create_conductor() == {"FINISHED"}
    second = scene.virtual_conductor.armature
    assert second != first and scene.camera == camera
    assert sorted(o.name for o in scene.objects if o.type == "LIGHT") == lights
    assert second.location.x - first.location.x == pytest.approx(1.2)
    body = next(o for o in scene.objects if o.type == "MESH" and o.parent == second)
    assert body.matrix_world.translation.x == pytest.approx(1.2, abs=0.05)  # the body goes with it


def test_generate_onto_an_existing_armature_with_procedural_weights(bpy_scene) -> None:
    bpy = bpy_scene
    assert bpy.ops.conductor.create_conductor() == {"FINISHED"}
    settings = settings_for(bpy, weights="PROCEDURAL", add_sound=False, keyframe_step=2)
    assert bpy.ops.conductor.generate(synchronous=True) == {"FINISHED"}
    assert settings.armature.animation_data.action is not None
    # One undo step, but not offered to Edit > Repeat Last (which would re-run it blocking).
    generate = bpy.types.Operator.bl_rna_get_subclass_py("CONDUCTOR_OT_generate")
    assert generate.bl_options == {"UNDO"}


def test_the_status_line_says_how_the_music_is_beaten_and_why_no_music_strip_came(bpy_scene) -> None:
    """The panel's status gives the conducted meter and tempo; a Blender built without sound
    (the 4.2 bpy wheel) says why the music strip it was asked for is missing."""
    import re

    bpy = bpy_scene
    settings = settings_for(bpy, weights="PROCEDURAL", target="CREATE", add_sound=True)
    assert bpy.ops.conductor.generate(synchronous=True) == {"FINISHED"}
    assert re.search(r"\. Beaten in \d at \d+ a minute, \d+ beats\.", settings.status), settings.status
    editor = bpy.context.scene.sequence_editor
    strips = list(getattr(editor, "strips_all", None) or getattr(editor, "sequences_all", None) or []) if editor else []
    without_sound = "built without sound, so no music strip was added" in settings.status
    if bpy.app.build_options.audaspace:
        assert len(strips) == 1 and not without_sound
    else:
        assert strips == [] and without_sound
        # ... and where to put the music in a Blender that has sound (after the conductor's lead-in)
        assert f"add '{MUSIC.name}' at frame {settings.start_frame} in the Video Sequencer" in settings.status


def test_generate_from_a_sound_strip_of_the_sequencer(bpy_scene) -> None:
    bpy = bpy_scene
    if not bpy.app.build_options.audaspace:
        pytest.skip("this bpy build has no audaspace, so it cannot hold sound strips")
    scene = bpy.context.scene
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    strip = strips.new_sound("Music", str(MUSIC), 1, 50)  # placed at frame 50 by the user
    assert bpy.ops.conductor.create_conductor() == {"FINISHED"}
    settings = settings_for(bpy, weights="PROCEDURAL", music_source="STRIP", music_strip=strip.name)
    settings.music_path = ""
    assert settings.start_frame == 1  # the Start Frame setting is for a music file, not a strip
    assert bpy.ops.conductor.generate(synchronous=True) == {"FINISHED"}
    action = settings.armature.animation_data.action
    assert action is not None and MUSIC.stem in action.name
    all_strips = editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all
    assert [s.name for s in all_strips] == ["Music"]  # the strip is the music: no second copy
    assert (
        strip.content_start if hasattr(strip, "content_start") else strip.frame_start
    ) == 50  # left where it was ...
    fps = scene.render.fps / scene.render.fps_base
    # ... and the motion's music part starts under it, the conductor's preparation before it (the
    # demo piece plays from its first beat)
    lead_in = round(0.5 * fps + 60.0 / 120.0 * fps)  # the ready point, then one beat at 120 a minute
    assert scene.frame_start == pytest.approx(50 - lead_in, abs=2) and scene.frame_start < 50
    assert action.frame_range[0] == scene.frame_start
    assert scene.frame_end - 50 + 1 == pytest.approx(35.0 * fps, abs=2)  # the 35-s piece
    assert settings.start_frame == 1  # a strip's music never moves: nothing to tell the setting


def test_the_music_strip_a_run_added_stays_where_the_user_drags_it(bpy_scene) -> None:
    """Music = File: the run adds the music's strip; dragged to frame 120, the next Generate
    conducts under it (it once put it back at Start Frame), and Start Frame follows; changing
    Start Frame later moves it again."""
    bpy = bpy_scene
    if not bpy.app.build_options.audaspace:
        pytest.skip("this bpy build has no audaspace, so it cannot hold sound strips")
    scene = bpy.context.scene
    settings = settings_for(bpy, weights="PROCEDURAL", target="CREATE")
    assert bpy.ops.conductor.generate(synchronous=True) == {"FINISHED"}
    editor = scene.sequence_editor
    strips = lambda: [s for s in (editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all)]  # noqa: E731
    start = lambda strip: strip.content_start if hasattr(strip, "content_start") else strip.frame_start  # noqa: E731
    (strip,) = strips()
    placed = start(strip)
    assert placed == settings.start_frame > 1  # after the preparation
    # The user drags it to 120 (5.1 renamed frame_start content_start; 5.3 warns on the old name).
    setattr(strip, "content_start" if hasattr(strip, "content_start") else "frame_start", 120)
    lead_before = placed - scene.frame_start
    assert bpy.ops.conductor.generate(synchronous=True) == {"FINISHED"}
    assert [start(s) for s in strips()] == [120] and settings.start_frame == 120
    assert scene.frame_start == 120 - lead_before  # the take under the strip, its preparation before it
    assert "instead of" not in settings.status  # nothing moved the music this time
    settings.start_frame = 200  # Start Frame changed after the drag: the music goes there
    assert bpy.ops.conductor.generate(synchronous=True) == {"FINISHED"}
    assert [start(s) for s in strips()] == [200] and scene.frame_start == 200 - lead_before


@pytest.mark.slow
def test_a_file_animated_in_the_add_on_exports_and_a_new_piece_replaces_the_music(
    bpy_scene, extension, tmp_path: Path
) -> None:
    """The panel's Generate keeps the motion as headless generate does, so ``export`` reads the
    saved file; generating again with another piece leaves one music strip of ours, not two."""
    import subprocess

    bpy = bpy_scene
    second = write_tone(tmp_path / "second piece.wav", duration_s=6.0)
    settings = settings_for(bpy, weights="PROCEDURAL", target="CREATE")
    assert bpy.ops.conductor.generate(synchronous=True) == {"FINISHED"}
    # The demo piece plays from its first beat: its file starts later, after the conductor's
    # preparation, the take from frame 1; Start Frame says where the music is now, and so does the status.
    scene = bpy.context.scene
    assert settings.start_frame > 1 and scene.frame_start == 1
    assert f"The music starts at frame {settings.start_frame} instead of 1" in settings.status
    saved = tmp_path / "animated in the add-on.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(saved), copy=True)
    done = subprocess.run(
        [
            sys.executable,
            str(Path(extension["folder"]) / "addon" / "headless_main.py"),
            "export",
            str(saved),
            "-o",
            str(tmp_path / "motion.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    from core.motion.keypoints import Motion

    kept = Motion.load(tmp_path / "motion.npz")
    assert kept.frame_count == kept.lead_in_frames + 35 * 30
    if not bpy.app.build_options.audaspace:
        return  # no sound strips in this build
    editor = bpy.context.scene.sequence_editor
    channel = next(iter(editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all)).channel
    for music in (second, MUSIC, second):  # the new piece takes the old one's channel and sound's place
        settings.music_path = str(music)
        assert bpy.ops.conductor.generate(synchronous=True) == {"FINISHED"}
        strips = [
            s
            for s in (editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all)
            if s.type == "SOUND"
        ]
        assert [(Path(s.sound.filepath).name, s.channel) for s in strips] == [(music.name, channel)]
        assert sorted(Path(sound.filepath).name for sound in bpy.data.sounds) == [music.name]


# ---------------------------------------------------------------------------- bad input
def test_no_armature_greys_out_generate_and_says_why(bpy_scene) -> None:
    settings_for(bpy_scene, target="EXISTING")
    assert_fails_cleanly(bpy_scene, "Pick a target armature")


def test_analyse_beats_needs_music_but_neither_a_target_nor_a_model(bpy_scene) -> None:
    bpy = bpy_scene
    settings = settings_for(bpy, target="EXISTING", weights="CUSTOM")
    settings.custom_weights_path = ""
    assert not bpy.ops.conductor.generate.poll()
    assert bpy.ops.conductor.analyse_beats.poll()  # the reasons are values: model and target do not concern it
    settings.music_path = ""
    assert not bpy.ops.conductor.analyse_beats.poll()


def test_edit_mode_greys_out_generate_and_says_why(bpy_scene) -> None:
    bpy = bpy_scene
    assert bpy.ops.conductor.create_conductor() == {"FINISHED"}
    settings = settings_for(bpy, weights="PROCEDURAL", add_sound=False)
    bpy.context.view_layer.objects.active = settings.armature
    assert bpy.ops.conductor.generate.poll()
    bpy.ops.object.mode_set(mode="EDIT")
    assert bpy.context.mode == "EDIT_ARMATURE"
    assert not bpy.ops.conductor.generate.poll()
    assert_fails_cleanly(bpy, "Switch to Object or Pose Mode to generate")
    bpy.ops.object.mode_set(mode="POSE")
    assert bpy.ops.conductor.generate.poll()
    bpy.ops.object.mode_set(mode="OBJECT")


def test_armature_outside_the_scene_is_reported(bpy_scene) -> None:
    bpy = bpy_scene
    data = bpy.data.armatures.new("Loose")
    settings_for(bpy, armature=bpy.data.objects.new("Loose", data))
    assert_fails_cleanly(bpy, "is not in this scene")


def test_a_mapping_the_rig_lacks_bones_for_is_reported_before_the_worker_starts(bpy_scene) -> None:
    bpy = bpy_scene
    assert bpy.ops.conductor.create_conductor() == {"FINISHED"}
    settings_for(bpy, weights="PROCEDURAL", mapping="RIGIFY")
    assert_fails_cleanly(bpy, "lacks the bones .* that mapping 'rigify' needs")


def test_missing_audio_is_reported(bpy_scene) -> None:
    settings_for(bpy_scene, target="CREATE", music_path="/no/such/music.ogg")
    assert_fails_cleanly(bpy_scene, r"Music file '.*music.ogg' does not exist")


@pytest.mark.slow
def test_corrupt_audio_is_reported(bpy_scene, tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.ogg"
    corrupt.write_bytes(b"OggS" + os.urandom(4000))
    settings_for(bpy_scene, target="CREATE", music_path=str(corrupt))
    assert_fails_cleanly(bpy_scene, "broken.ogg")


def test_missing_weights_are_reported(bpy_scene) -> None:
    settings_for(bpy_scene, target="CREATE", weights="CUSTOM", custom_weights_path="/no/such/weights.safetensors")
    assert_fails_cleanly(bpy_scene, "Weights file '.*weights.safetensors' does not exist")


@pytest.mark.slow
def test_wrong_weights_are_reported(bpy_scene, tmp_path: Path) -> None:
    wrong = tmp_path / "not_a_model.pt"
    wrong.write_bytes(os.urandom(2048))
    settings_for(bpy_scene, target="CREATE", weights="CUSTOM", custom_weights_path=str(wrong))
    assert_fails_cleanly(bpy_scene, "not_a_model.pt")


def test_the_official_checkpoint_runs_without_pytorch_and_a_gpu_asks_for_it(
    bpy_scene, tmp_path: Path, monkeypatch
) -> None:
    """A real interpreter without PyTorch: ``python -S`` sees every package of this environment
    except torch (linked into a folder of their own), and the worker runs there. The official
    checkpoint runs on the CPU; Device CUDA says it needs PyTorch and how to install it."""
    site = Path(np.__file__).resolve().parent.parent
    no_torch = tmp_path / "site-without-torch"
    no_torch.mkdir()
    for entry in site.iterdir():
        if not entry.name.lower().startswith(("torch", "functorch", "__pycache__")):
            (no_torch / entry.name).symlink_to(entry)
    python = tmp_path / "python-without-torch"
    python.write_text(f'#!/bin/sh\nPYTHONPATH="$PYTHONPATH:{no_torch}" exec "{sys.executable}" -S "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("VIRTUAL_CONDUCTOR_PYTHON", str(python))
    kept = tmp_path / "motion.npz"
    settings_for(bpy_scene, target="CREATE", save_motion_path=str(kept))
    assert bpy_scene.ops.conductor.generate(synchronous=True) == {"FINISHED"}
    from core.motion.keypoints import Motion

    motion = Motion.load(kept)
    assert motion.extra["runtime"] in ("onnxruntime", "numpy") and motion.extra["device"] == "cpu"
    settings_for(bpy_scene, target="CREATE", device="CUDA")
    assert_fails_cleanly(
        bpy_scene,
        "Device CUDA needs PyTorch, which is not installed: click Install PyTorch in Preferences > Add-ons "
        "> VirtualConductor, or choose Device Auto or CPU",
    )


def read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write into (root ignores permissions, so use /sys then)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").write_bytes(b"")
    except OSError:
        return folder
    (folder / "probe").unlink()
    if os.path.isdir("/sys"):
        try:
            Path("/sys/virtual_conductor_probe").write_bytes(b"")
        except OSError:
            return Path("/sys")
    pytest.skip("no read-only folder is available to this user")


def test_read_only_save_path_is_reported(bpy_scene, tmp_path: Path) -> None:
    folder = read_only_folder(tmp_path)
    settings_for(bpy_scene, target="CREATE", save_motion_path=str(folder / "motion.npz"))
    try:
        assert_fails_cleanly(bpy_scene, r"Output folder '.*' is not writable .*; pick another")
    finally:
        if folder != Path("/sys"):
            folder.chmod(0o755)


def test_save_path_keeps_a_copy_of_the_motion(official_run: dict) -> None:
    from core.motion.keypoints import Motion

    motion = Motion.load(official_run["kept"])
    assert motion.frame_count > 30 * 20 and motion.weights_id.startswith("M2SGAN_official")


# ---------------------------------------------------------------------------- worker
@pytest.mark.slow
def test_worker_cancel_stops_within_a_second_and_leaves_nothing(worker, tmp_path: Path) -> None:
    long_piece = write_tone(tmp_path / "long.flac", duration_s=300.0, rate_hz=22_050, fmt="FLAC")
    output = tmp_path / "out" / "motion.npz"
    output.parent.mkdir()
    job = worker.GenerationJob(
        worker.WorkerRequest(str(long_piece), str(output), options(weights=str(OFFICIAL_GENERATOR)))
    )
    deadline = time.monotonic() + 60
    while job.poll() == "running" and job.message == "Starting the generator":
        assert time.monotonic() < deadline, "the worker never reported progress"
        time.sleep(0.05)
    assert job.state == "running", job.error
    started = time.monotonic()
    job.cancel()
    assert time.monotonic() - started < 1.0
    assert job.returncode is not None and job.state == "cancelled"
    assert list(output.parent.iterdir()) == []
    with pytest.raises(Exception, match="cancelled"):
        job.result()


def test_worker_reports_the_cores_one_sentence_error(worker, tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"Weights file '.*missing.pt' does not exist"):
        worker.run_blocking(
            worker.WorkerRequest(str(MUSIC), str(tmp_path / "m.npz"), options(weights=str(tmp_path / "missing.pt")))
        )
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.slow
def test_worker_job_polled_like_the_modal_operator_reaches_done(worker, tmp_path: Path) -> None:
    """What the timer-driven modal operator does between events: poll, show progress, finish."""
    output = tmp_path / "motion.npz"
    job = worker.GenerationJob(worker.WorkerRequest(str(MUSIC), str(output), options(weights=str(OFFICIAL_GENERATOR))))
    seen, deadline = [], time.monotonic() + 300
    while job.poll() == "running":
        assert time.monotonic() < deadline, "the worker never finished"
        seen.append(job.progress)
        time.sleep(0.1)
    assert job.state == "done", job.error
    assert seen == sorted(seen) and job.progress == 1.0
    assert job.output_path == output and output.is_file()
    from core.motion.keypoints import Motion

    assert Motion.load(output).frame_count == 35 * 30


def test_worker_ignores_malformed_progress_lines(worker, tmp_path: Path) -> None:
    """A worker that prints null, text and garbage as progress: poll never raises."""
    script = (
        'print(\'{"event": "progress", "fraction": null}\'); '
        'print(\'{"event": "progress", "fraction": "half"}\'); '
        'print(\'{"event": "progress", "fraction": [1]}\'); print(\'{"progress": 0.9}\'); '
        "print('{garbage'); print('not json'); "
        'print(\'{"event": "progress", "fraction": 0.5, "message": "Halfway"}\')'
    )
    job = worker.GenerationJob(
        worker.WorkerRequest(str(MUSIC), str(tmp_path / "m.npz")), python=[sys.executable, "-c", script]
    )
    deadline = time.monotonic() + 30
    while job.poll() == "running":
        assert time.monotonic() < deadline, "the script never ended"
        time.sleep(0.05)
    assert job.state == "failed"  # it wrote no motion
    assert job.progress == 0.5 and job.message == "Halfway"


def test_worker_names_a_missing_package_from_its_event(worker, tmp_path: Path) -> None:
    """The worker reports a missing package as a structured event: the job names it."""
    event = '{"event": "missing_package", "package": "torch", "message": "x", "setting": "precision", "value": "bf16"}'
    script = f"print({event!r})"
    job = worker.GenerationJob(
        worker.WorkerRequest(str(MUSIC), str(tmp_path / "m.npz")), python=[sys.executable, "-c", script]
    )
    with pytest.raises(
        Exception,
        match="Precision BF16 needs PyTorch, which is not installed: click Install PyTorch in Preferences > "
        "Add-ons > VirtualConductor, or choose Precision Float32.",
    ):
        job.wait()
    assert job.missing_package == "torch"


def test_worker_request_round_trips_every_setting(worker) -> None:
    """What the panel asks for is what the worker's command line says: no setting is lost."""
    from core.cli import build_parser
    from core.options import from_arguments

    chosen = options(weights="procedural", seed=123, variation=0.25, device="cpu", meter=6)
    arguments = worker.WorkerRequest("music.ogg", "out.npz", chosen).arguments()
    parsed = build_parser().parse_args(arguments[2:])
    assert from_arguments(type(chosen), parsed) == chosen
    assert worker.WorkerRequest("music.ogg", "out.npz").arguments()[3:] == [
        "music.ogg",
        "-o",
        "out.npz",
        "--progress-jsonl",
    ]


def simulate_background_run(bpy, extension: dict, worker, tmp_path: Path):
    """What Generate's invoke does, without its modal handler: a real sleeping worker, a timer
    and the job state on the scene. Returns the operators module and the job."""
    import importlib

    operators = importlib.import_module(extension["package"] + ".addon.operators")
    folder = tmp_path / "job"
    folder.mkdir(parents=True)
    job = worker.GenerationJob(
        worker.WorkerRequest(str(MUSIC), str(folder / "motion.npz")),
        python=[sys.executable, "-c", "import time; time.sleep(60)"],
    )
    background = importlib.import_module(extension["package"] + ".addon.background")
    task = background.BackgroundTask(
        operators.GENERATE, job, cleanup=lambda: shutil.rmtree(folder), scene=bpy.context.scene.name
    )
    task.start_timer(bpy.context.window_manager, bpy.context.window, 0.15)
    settings = bpy.context.scene.virtual_conductor
    settings.is_running = True
    return operators, job, folder


def test_unregister_during_a_run_stops_it_and_resets_the_scene(bpy_scene, extension, worker, tmp_path: Path) -> None:
    bpy = bpy_scene
    operators, job, folder = simulate_background_run(bpy, extension, worker, tmp_path)
    assert bpy.ops.conductor.cancel.poll()
    extension["module"].unregister()
    extension["module"].register()
    assert job.state == "cancelled" and job.returncode is not None
    assert operators.BackgroundTask.get(operators.GENERATE) is None and not folder.exists()
    assert not bpy.context.scene.virtual_conductor.is_running
    # The next run can be cancelled again through the Cancel button.
    operators, job, _folder = simulate_background_run(bpy, extension, worker, tmp_path / "again")
    assert bpy.ops.conductor.cancel() == {"FINISHED"}
    assert bpy.context.scene.virtual_conductor.cancel_requested
    operators.cancel_running_job()
    assert job.state == "cancelled" and not bpy.context.scene.virtual_conductor.is_running


def test_finished_run_goes_to_the_scene_it_started_in(bpy_scene, extension, worker, tmp_path: Path) -> None:
    """The user switched scenes while the worker ran: the keys and the conductor go to the
    run's scene, read with that scene's settings; a deleted scene is one clear error."""
    import importlib

    bpy = bpy_scene
    operators = importlib.import_module(extension["package"] + ".addon.operators")
    started = bpy.context.scene
    settings_for(bpy, weights="PROCEDURAL", target="CREATE", add_sound=False)
    inputs = operators.read_inputs(bpy.context)
    motion = worker.run_blocking(
        worker.WorkerRequest(str(MUSIC), str(tmp_path / "motion.npz"), options(weights="procedural"))
    )
    other = bpy.data.scenes.new("Other")
    with bpy.context.temp_override(scene=other):
        assert bpy.context.scene == other
        armature, _result = operators.finish_run(started.name, inputs, motion)
    assert armature.name in started.objects and len(other.objects) == 0
    assert started.virtual_conductor.armature == armature
    assert other.virtual_conductor.armature is None
    bpy.data.scenes.remove(bpy.data.scenes["Other"])
    with pytest.raises(Exception, match="'Gone' no longer exists"):
        operators.finish_run("Gone", inputs, motion)


def test_beats_per_bar_reaches_the_procedural_conductor_only(bpy_scene, extension, worker, tmp_path: Path) -> None:
    import importlib

    bpy = bpy_scene
    operators = importlib.import_module(extension["package"] + ".addon.operators")
    settings_for(bpy, weights="PROCEDURAL", target="CREATE", add_sound=False, meter="3")
    inputs = operators.read_inputs(bpy.context)
    assert inputs.generate.meter == 3
    request = operators.worker_request(inputs, str(tmp_path))
    assert "--meter 3" in " ".join(request.arguments())
    motion = worker.run_blocking(request)
    from core.motion.keypoints import Motion

    assert Motion.load(motion).extra["meter"] == 3
    settings_for(bpy, weights="OFFICIAL", meter="3")  # a network has no meter to set
    assert operators.read_inputs(bpy.context).generate.meter is None
    settings_for(bpy, weights="PROCEDURAL", meter="AUTO")
    assert operators.read_inputs(bpy.context).generate.meter is None
    settings_for(bpy, weights="PROCEDURAL", meter="5", articulation="MARCATO", gesture_size=1.4)
    chosen = operators.read_inputs(bpy.context).generate
    assert (chosen.meter, chosen.style.articulation, chosen.style.gesture_size) == (5, "marcato", pytest.approx(1.4))
    settings_for(bpy, weights="OFFICIAL")  # a network: the style is not sent
    assert operators.read_inputs(bpy.context).generate.style.articulation == "auto"


class RecordingLayout:
    """Stands in for bpy.types.UILayout, which exists only while Blender draws a window: records
    each property a panel shows and whether it is drawn active (not greyed out)."""

    def __init__(self, shown: dict, parent: "RecordingLayout | None" = None) -> None:
        self.shown, self.parent, self.active, self.use_property_split = shown, parent, True, False

    def drawn_active(self) -> bool:
        return self.active and (self.parent is None or self.parent.drawn_active())

    def column(self, **_options) -> "RecordingLayout":
        return RecordingLayout(self.shown, self)

    row = column

    def prop(self, _data, name: str, **_options) -> None:
        self.shown[name] = self.drawn_active()

    def label(self, **_options) -> None:
        pass


def test_model_panel_offers_beats_per_bar_for_the_procedural_conductor(bpy_scene, extension) -> None:
    import importlib
    import types

    bpy = bpy_scene
    panel = importlib.import_module(extension["package"] + ".addon.panel")

    def draw_model_panel() -> dict:
        shown: dict = {}
        panel.CONDUCTOR_PT_model.draw(types.SimpleNamespace(layout=RecordingLayout(shown)), bpy.context)
        return shown

    settings_for(bpy, weights="PROCEDURAL")
    shown = draw_model_panel()
    # the procedural conductor uses the seed and the variation (its human irregularity), not a device
    assert shown["meter"] and shown["seed"] and shown["variation"]
    assert all(shown[name] for name in ("articulation", "gesture_size", "energy", "left_hand_activity"))
    assert not shown["device"] and not shown["precision"]
    settings_for(bpy, weights="OFFICIAL")
    shown = draw_model_panel()
    assert "meter" not in shown and "articulation" not in shown
    assert shown["device"] and shown["precision"] and shown["variation"]


def test_our_experimental_weights_are_one_choice_away(bpy_scene, extension) -> None:
    import importlib

    bpy = bpy_scene
    operators = importlib.import_module(extension["package"] + ".addon.operators")
    settings_for(bpy, weights="NEURAL", target="CREATE", meter="3")
    inputs = operators.read_inputs(bpy.context)
    assert inputs.generate.weights == "neural" and inputs.generate.meter is None  # a network: no beats per bar
    assert not operators.runs_procedural(bpy.context.scene.virtual_conductor)


@pytest.mark.parametrize(
    "name",
    [
        "music_path",
        "official_weights_path",
        "custom_weights_path",
        "mapping_path",
        "save_motion_path",
    ],
)
def test_path_settings_accept_blend_relative_paths_without_a_warning(bpy_scene, name) -> None:
    import warnings

    settings = bpy_scene.context.scene.virtual_conductor
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Blender 5.0 warns on "//" unless the path allows it
        setattr(settings, name, "//music.ogg")
    assert getattr(settings, name) == "//music.ogg"


def test_demo_piece_button_sets_the_bundled_file(bpy_scene, extension) -> None:
    bpy = bpy_scene
    settings = bpy.context.scene.virtual_conductor
    settings.music_source = "STRIP"
    assert settings.music_path == ""
    assert bpy.ops.conductor.use_demo_piece() == {"FINISHED"}
    path = Path(settings.music_path)
    assert settings.music_source == "FILE" and path.is_file()
    assert path.name == "demo_piece.ogg"
    assert path.resolve().is_relative_to(Path(extension["folder"]).resolve())  # the installed copy


def test_a_reopened_file_shows_no_status_of_the_session_it_was_saved_in(bpy_scene, extension, tmp_path: Path) -> None:
    """An error the panel said before saving is not the reopened file's: the status line starts empty."""
    bpy = bpy_scene
    not_music = tmp_path / "not music.ogg"
    not_music.write_text("a text file")
    settings = settings_for(bpy, music_path=str(not_music), weights="PROCEDURAL", target="CREATE")
    with pytest.raises(RuntimeError):
        bpy.ops.conductor.generate(synchronous=True)
    said = bpy.context.scene.virtual_conductor.status
    assert "not music.ogg" in said
    saved = tmp_path / "with an error.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(saved))
    bpy.ops.wm.open_mainfile(filepath=str(saved))
    assert bpy.context.scene.virtual_conductor.status == ""
    assert settings is not None
