"""The headless command line as render farms run it: ``python addon/headless_main.py ...`` in a
real subprocess (the ``bpy`` module, no screen), real music files, real outputs reopened in bpy.

One ``generate`` run makes the .blend, an MP4 and the exports that several tests check; batch
and shard runs use short tones so the whole file stays around a minute on two CPU cores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO_PIECE, OFFICIAL_GENERATOR, PROJECT_ROOT, import_extension, write_tone

from core.motion.keypoints import Motion

bpy = pytest.importorskip("bpy")

ENTRY = PROJECT_ROOT / "addon" / "headless_main.py"
FPS = 25
SECONDS = 8.0
RENDER_SECONDS = 2.5
FAST = ["--weights", "procedural"]


def headless(*args: str, timeout: float = 300, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ENTRY), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def test_paths_relative_to_the_users_folder_reach_the_generator(music: Path, tmp_path: Path) -> None:
    """The generator runs in a worker process started in the extension's folder: the music and
    the beat grid given relative to the user's folder must still be found."""
    shutil.copy(music, tmp_path / "piece.wav")
    (tmp_path / "grid.txt").write_text("".join(f"{0.5 + 0.5 * i:.3f}\t{1 + i // 4}.{1 + i % 4}\n" for i in range(12)))
    done = headless("generate", "piece.wav", "-o", "piece.blend", "--beats", "grid.txt", *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "piece.blend").is_file()


def first_seconds(source: Path, target: Path, seconds: float) -> Path:
    import soundfile

    samples, rate_hz = soundfile.read(str(source), dtype="float32", always_2d=True)
    soundfile.write(str(target), samples[: int(seconds * rate_hz)], rate_hz)
    return target


def partial_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name or p.name.endswith("@"))


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    return first_seconds(DEMO_PIECE, tmp_path_factory.mktemp("music") / "demo 8s.ogg", SECONDS)


@pytest.fixture(scope="module")
def generated(music: Path, tmp_path_factory) -> dict[str, Path]:
    """One generate run: .blend + MP4 (2.5 s at 160x120) + BVH, GLB, FBX, NPZ exports."""
    out = tmp_path_factory.mktemp("generated") / "nested" / "out"  # folders are created
    paths = {ext: out / f"piece.{ext}" for ext in ("blend", "mp4", "bvh", "glb", "fbx", "npz")}
    done = headless(
        "generate",
        music,
        "-o",
        paths["blend"],
        *FAST,
        "--fps",
        FPS,
        "--render",
        paths["mp4"],
        "--resolution",
        "160x120",
        "--seconds",
        RENDER_SECONDS,
        "--samples",
        2,
        "--no-denoise",
        *[arg for ext in ("bvh", "glb", "fbx", "npz") for arg in ("--export", paths[ext])],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert partial_files(out) == []
    return paths


def open_blend(path: Path):
    bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    return bpy.context.scene


def the_action(obj):
    return obj.animation_data.action if obj.animation_data else None


# ---------------------------------------------------------------------------------- generate
@pytest.mark.slow
def test_generate_makes_an_animated_blend_with_the_music(generated: dict, music: Path) -> None:
    scene = open_blend(generated["blend"])
    stored_armature, stored = import_extension("addon.stored_motion").stored_motion(scene)
    # The piece plays from its first beat: the conductor's preparation comes first, then the music.
    lead_in = round(stored.lead_in_s * FPS)
    assert lead_in >= 0.5 * FPS and stored.frame_count == stored.lead_in_frames + round(SECONDS * 30)
    frames = lead_in + round(SECONDS * FPS)
    assert (scene.render.fps, scene.render.fps_base) == (FPS, 1.0)
    assert (scene.frame_start, scene.frame_end) == (1, frames)
    armature = scene.objects["Conductor"]
    action = the_action(armature)
    assert action is not None and action.name == "Conductor: demo 8s (seed 0)"
    assert tuple(action.frame_range) == (1.0, float(frames))
    assert scene.camera is not None and scene.camera.name == "Conductor Camera"
    if bpy.app.build_options.audaspace:
        editor = scene.sequence_editor
        strips = [s for s in getattr(editor, "strips_all", None) or editor.sequences_all if s.type == "SOUND"]
        assert len(strips) == 1 and import_extension("addon.compat").strip_range(strips[0])[0] == 1 + lead_in
        assert Path(bpy.path.abspath(strips[0].sound.filepath)).resolve() == music.resolve()
    assert stored_armature == armature and "Conductor Motion.json" not in bpy.data.texts
    assert stored.weights_id == "procedural"
    scene.frame_set(10)
    early = np.array(armature.pose.bones["forearm.R"].matrix)
    scene.frame_set(60)
    assert not np.allclose(early, np.array(armature.pose.bones["forearm.R"].matrix), atol=1e-3)


@pytest.mark.slow
def test_generate_a_left_handed_conductor_with_motion_options(music: Path, tmp_path: Path) -> None:
    output = tmp_path / "left.blend"
    done = headless(
        "generate",
        music,
        "-o",
        output,
        "--weights",
        "procedural",
        "--mirror",
        "--baton-hand",
        "left",
        "--amplitude",
        1.2,
        "--keyframe-step",
        2,
        "--no-camera",
        "--meter",
        3,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scene = open_blend(output)
    armature = scene.objects["Conductor"]
    assert import_extension("addon.stored_motion").stored_motion(scene)[1].extra["meter"] == 3  # beaten in three
    assert armature.data.bones["baton"].parent.name == "hand.L"
    curves = import_extension("addon.compat").action_fcurves(the_action(armature))
    frames = scene.frame_end  # from frame 1: the preparation, then the music
    assert frames > round(SECONDS * scene.render.fps / scene.render.fps_base)
    keyed = {point.co.x for fc in curves for point in fc.keyframe_points}
    assert keyed == {*range(1, frames + 1, 2), frames}  # every 2nd frame and the last (the baton arm needs all)
    bad = headless("generate", music, "-o", tmp_path / "bad.blend", "--weights", "procedural", "--smoothing", 4)
    assert bad.returncode == 2 and "argument --smoothing: must be between 0 and 1, got 4" in bad.stderr
    assert not (tmp_path / "bad.blend").exists()


@pytest.mark.slow
def test_generate_into_a_given_scene_with_the_official_weights(music: Path, tmp_path: Path) -> None:
    """--scene with --armature animates that rig in place: nothing else is added or lost."""
    if not OFFICIAL_GENERATOR.is_file():
        pytest.skip(f"official weights not found at {OFFICIAL_GENERATOR}")
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    bpy.ops.mesh.primitive_cube_add(location=(3, 0, 0))
    armature = import_extension("addon.conductor_body").create_conductor(bpy.context.scene, camera=False)
    armature.name = "Maestro"
    scene_file = tmp_path / "stage.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene_file))
    objects_before = sorted(bpy.data.objects.keys())

    output = tmp_path / "stage animated.blend"
    done = headless(
        "generate",
        music,
        "-o",
        output,
        "--scene",
        scene_file,
        "--armature",
        "Maestro",
        "--weights",
        OFFICIAL_GENERATOR,
        "--seed",
        3,
        "--variation",
        0.5,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scene = open_blend(output)
    assert sorted(bpy.data.objects.keys()) == objects_before
    action = the_action(bpy.data.objects["Maestro"])
    assert action is not None and action.name.endswith("(seed 3)")
    stored = import_extension("addon.stored_motion").motion_of(action)
    assert stored.weights_id != "procedural" and stored.extra["variation"] == 0.5
    assert scene.render.fps == 24 and scene.frame_end == round(SECONDS * 24)  # the scene keeps its rate

    wrong = headless("generate", music, "-o", tmp_path / "x.blend", "--scene", scene_file, "--armature", "Cube")
    assert wrong.returncode == 1 and "not an armature" in wrong.stderr
    assert wrong.stderr.count("\n") == 1 and not (tmp_path / "x.blend").exists()


def test_a_mapping_the_rig_lacks_bones_for_is_refused_before_the_music_is_read(music: Path, tmp_path: Path) -> None:
    """A wrong --mapping used to be found after the whole piece was conducted: now it is the one
    line the command prints, before any progress."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    armature = import_extension("addon.conductor_body").create_conductor(bpy.context.scene, camera=False)
    armature.name = "Maestro"
    scene_file = tmp_path / "stage.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene_file))
    command = ["generate", music, "-o", tmp_path / "x.blend", "--scene", scene_file, "--armature", "Maestro"]
    wrong = headless(*command, "--mapping", "rigify", *FAST)
    assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1, wrong.stderr
    assert "Armature 'Maestro' lacks the bones" in wrong.stderr and "that mapping 'rigify' needs" in wrong.stderr
    assert not (tmp_path / "x.blend").exists()


def test_a_blend_from_a_newer_blender_that_this_one_cannot_read_says_so(tmp_path: Path) -> None:
    """A file from a newer Blender is named as such (it was "not a blend file"), compressed or not,
    in both the old header ("BLENDER-v402") and the one of 5.0 on ("BLENDER17-01v0500")."""
    import zstandard

    scene_io = import_extension("addon.scene_io")
    body = b"REND" + bytes(200)
    for header, version in ((b"BLENDER-v402", (4, 2)), (b"BLENDER17-01v0500", (5, 0)), (b"BLENDER_V279", (2, 79))):
        plain, packed = tmp_path / "plain.blend", tmp_path / "packed.blend"
        plain.write_bytes(header + body)
        packed.write_bytes(zstandard.ZstdCompressor().compress(header + body))
        assert scene_io.blend_file_version(plain) == scene_io.blend_file_version(packed) == version
    (tmp_path / "text.blend").write_text("not a blend file at all")
    assert scene_io.blend_file_version(tmp_path / "text.blend") is None

    future = tmp_path / "future.blend"
    future.write_bytes(zstandard.ZstdCompressor().compress(b"BLENDER17-01v9900" + body))
    done = headless("export", future, "-o", tmp_path / "m.npz")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: Scene file '{future}' was saved by Blender 99.0, newer than this Blender")
    ), done.stderr
    assert "open it with Blender 99.0 or newer" in done.stderr and not (tmp_path / "m.npz").exists()


@pytest.mark.slow
def test_blenders_own_log_lines_stay_out_of_a_headless_run(music: Path, tmp_path: Path) -> None:
    """Saving, opening and exporting print Blender's and the exporters' log lines ("Info: Saved
    copy as", "Read blend:", the glTF exporter's INFO lines): held back, only the command's own
    lines are left."""
    blend = tmp_path / "quiet.blend"
    done = headless(
        "generate", music, "-o", blend, "--export", tmp_path / "q.glb", "--export", tmp_path / "q.fbx", *FAST
    )
    assert done.returncode == 0, done.stderr[-3000:]
    exported = headless("export", blend, "-o", tmp_path / "again.glb")
    assert exported.returncode == 0, exported.stderr[-3000:]
    for output in (done.stdout + done.stderr, exported.stdout + exported.stderr):
        for noise in ("Info: Saved copy", "Read blend", "INFO", "export finished in"):
            assert noise not in output, output
    # (Blender 5.3 may log its colour configuration as it starts, before any step of ours.)
    assert [line.split(" ")[0] for line in done.stdout.splitlines()[-4:]] == ["wrote", "wrote", "wrote", "done"]
    # Before them, how it was conducted, as the panel's status says it.
    assert done.stdout.splitlines()[-5].startswith(f"{music.name}: beaten in "), done.stdout


@pytest.mark.slow
def test_render_checks_its_output_folder_first_and_keeps_cycles_device_probe_quiet(
    generated: dict[str, Path], tmp_path: Path
) -> None:
    still = headless(
        "render",
        generated["blend"],
        "-o",
        tmp_path / "new folder" / "still.png",  # made, as every command makes its output's folder
        "--frame",
        "5",
        "--resolution",
        "64x36",
        "--samples",
        "1",
        "--no-denoise",
    )
    assert still.returncode == 0, still.stderr[-3000:]
    assert "CUEW" not in still.stdout + still.stderr  # Cycles' CUDA probe, held back as Blender's own lines are
    assert (tmp_path / "new folder" / "still.png").is_file()
    (tmp_path / "a file").write_text("")
    for output in (tmp_path / "a file" / "x.png", tmp_path / "a file" / "x.mp4"):
        done = headless("render", generated["blend"], "-o", output)
        assert done.returncode == 1 and done.stderr.strip().splitlines() == [
            f"error: Output folder '{output.parent}' is a file, not a folder; pick another."
        ], done.stderr


def test_a_missing_blend_is_named_as_what_was_given(tmp_path: Path) -> None:
    for command, words in (("render", "the .blend to render"), ("export", "the .blend to export")):
        done = headless(
            command,
            tmp_path / "missing.blend",
            "-o",
            tmp_path / "out.glb" if command == "export" else tmp_path / "o.mp4",
        )
        assert done.returncode == 1 and f"check the path of {words}." in done.stderr and "--scene" not in done.stderr


def test_held_output_is_shown_when_the_step_fails(capfd) -> None:
    """What a held step prints (at the file-descriptor level, as C code prints) is dropped when
    it succeeds and shown on stderr when it fails, so an exporter's own error is not lost."""
    held_output = import_extension("addon.console").held_output
    with held_output():
        os.write(1, b"quiet success\n")
    with pytest.raises(RuntimeError), held_output():
        os.write(2, b"the exporter said why\n")
        raise RuntimeError("the export failed")
    out, err = capfd.readouterr()
    assert "quiet success" not in out + err and "the exporter said why" in err


def test_blender_style_arguments_and_user_errors_exit_1(tmp_path: Path) -> None:
    """As ``blender -b --python-exit-code 1 -P headless_main.py -- ...`` runs it: the script is
    __main__, sys.argv is Blender's, only what follows ``--`` is ours."""
    argv = [
        "blender",
        "-b",
        "--python-exit-code",
        "1",
        "-P",
        str(ENTRY),
        "--",
        "generate",
        str(tmp_path / "missing.ogg"),
        "-o",
        str(tmp_path / "x.blend"),
    ]
    code = f"import runpy, sys; sys.argv = {argv!r}; runpy.run_path(sys.argv[5], run_name='__main__')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "missing.ogg" in done.stderr and not (tmp_path / "x.blend").exists()


def test_the_networks_run_without_pytorch_and_a_gpu_asks_for_it_once(tmp_path: Path) -> None:
    """Blender's own Python has no PyTorch until it is installed: the networks run there on the
    CPU (ONNX Runtime, bundled), and asking for a GPU says once that it needs PyTorch (not a
    traceback, not once per batch file), before any work, writing nothing."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        pytest.skip("PyTorch is installed here; this is Blender's Python without it (the Blender 5.3 tests)")
    piece = write_tone(tmp_path / "tone.wav", duration_s=3.0)
    done = headless(
        "generate", piece, "-o", tmp_path / "n.blend", "--weights", "neural", "--export", tmp_path / "n.npz"
    )
    assert done.returncode == 0, done.stderr
    from core.motion.keypoints import Motion

    motion = Motion.load(tmp_path / "n.npz")
    assert motion.weights_id == "virtualconductor-cpu-v1" and motion.extra["runtime"] in ("onnxruntime", "numpy")
    for command in (
        ["generate", piece, "-o", tmp_path / "gpu.blend", "--weights", "neural", "--device", "cuda"],
        ["batch", piece, "-o", tmp_path / "renders", "--weights", "neural", "--device", "cuda"],
    ):
        done = headless(*command)
        assert done.returncode == 1, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("error: --device cuda needs PyTorch, which this Python does not have"), done.stderr
        assert "Traceback" not in done.stderr and done.stderr.count("needs PyTorch") == 1
    assert not (tmp_path / "gpu.blend").exists() and not list((tmp_path / "renders").glob("*"))


# ---------------------------------------------------------------------------------- render
def ffprobe_streams(path: Path) -> dict[str, dict]:
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        pytest.skip("ffprobe is not installed (apt-get install ffmpeg) to check the video's streams")
    done = subprocess.run(
        [ffprobe, "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {stream["codec_type"]: stream for stream in json.loads(done.stdout)["streams"]}


def test_render_writes_h264_video_with_aac_music(generated: dict) -> None:
    streams = ffprobe_streams(generated["mp4"])
    video, audio = streams["video"], streams["audio"]
    assert video["codec_name"] == "h264" and (video["width"], video["height"]) == (160, 120)
    assert video["r_frame_rate"] == f"{FPS}/1"
    assert int(video["nb_frames"]) == round(RENDER_SECONDS * FPS)
    assert float(video["duration"]) == pytest.approx(RENDER_SECONDS, abs=0.05)
    assert audio["codec_name"] == "aac"
    assert float(audio["duration"]) == pytest.approx(RENDER_SECONDS, abs=0.1)


# ---------------------------------------------------------------------------------- exports
def world_turns(armature, scene, frames: list[int], bones: list[str]) -> np.ndarray:
    """(F, B, 4) quaternions: each bone's world rotation at each frame, relative to its rest.

    Independent of how an importer orients bones: pose = turn @ rest, in world space.
    """
    turns = []
    for frame in frames:
        scene.frame_set(frame)
        row = []
        for name in bones:
            rest = (armature.matrix_world @ armature.data.bones[name].matrix_local).to_quaternion()
            pose = (armature.matrix_world @ armature.pose.bones[name].matrix).to_quaternion()
            turn = pose @ rest.inverted()
            row.append(np.array(turn) * (1 if turn.w >= 0 else -1))
        turns.append(row)
    return np.array(turns)


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 2 * np.arccos(np.clip(np.abs(np.sum(a * b, axis=-1)), 0, 1))


@pytest.mark.parametrize("kind", ["bvh", "glb", "fbx"])
def test_exports_reimport_standing_on_the_same_frames_with_the_same_joint_rotations(generated: dict, kind: str) -> None:
    """Each format read back by Blender's own importer with its defaults: the figure stands up
    (BVH is written Y-up, as its readers expect), starts where the .blend starts (frame 1 for
    BVH and FBX; glTF keys 0 s, which Blender's importer puts on frame 0) and turns every bone
    as the original does."""
    scene = open_blend(generated["blend"])
    original = scene.objects["Conductor"]
    bones = [
        "spine",
        "chest",
        "neck",
        "head",
        "upper_arm.L",
        "forearm.L",
        "hand.L",
        "upper_arm.R",
        "forearm.R",
        "hand.R",
    ]
    frames = [1, 37, 90, 141, 200]
    expected = world_turns(original, scene, frames, bones)
    assert angle_between(expected, expected[:1]).max() > 0.2  # it really moves

    before = set(bpy.data.objects.keys())
    importer = {
        "bvh": lambda path: bpy.ops.import_anim.bvh(filepath=path),
        "glb": lambda path: bpy.ops.import_scene.gltf(filepath=path),
        "fbx": lambda path: bpy.ops.import_scene.fbx(filepath=path),
    }[kind]
    with import_extension("addon.console").held_output():  # the importers' own log lines
        importer(str(generated[kind]))
    (imported,) = [
        bpy.data.objects[n] for n in set(bpy.data.objects.keys()) - before if bpy.data.objects[n].type == "ARMATURE"
    ]
    action = imported.animation_data.action if imported.animation_data else None
    assert action is not None, f"the {kind} came back without its animation"
    first_frame = 0 if kind == "glb" else scene.frame_start
    assert action.frame_range[0] == first_frame
    shift = first_frame - scene.frame_start
    scene.frame_set(frames[1] + shift)
    head, hips = (np.array(imported.matrix_world @ imported.pose.bones[name].head) for name in ("head", "hips"))
    assert head[2] - hips[2] > 0.4  # standing up, not lying on its back
    got = world_turns(imported, scene, [f + shift for f in frames], bones)
    assert angle_between(got, expected).max() < np.radians(0.5)


def test_glb_animation_starts_with_the_music_at_zero_seconds(generated: dict) -> None:
    """The scene's first frame (the take's: the conductor's preparation, then the music) is at
    0 s for a glTF player, not one frame (1 / fps) late, and the last key at the last frame's time."""
    import struct

    data = generated["glb"].read_bytes()
    (json_length,) = struct.unpack("<I", data[12:16])
    document = json.loads(data[20 : 20 + json_length])
    times = [
        document["accessors"][sampler["input"]]
        for animation in document["animations"]
        for sampler in animation["samplers"]
    ]
    assert times and all(accessor["min"] == [0.0] for accessor in times)
    frames = round(Motion.load(generated["npz"]).lead_in_s * FPS) + int(SECONDS * FPS)
    assert max(accessor["max"][0] for accessor in times) == pytest.approx((frames - 1) / FPS, abs=1e-4)


def test_export_command_reads_the_motion_kept_in_the_blend(generated: dict, tmp_path: Path) -> None:
    """``export piece.blend`` later gives the same motion as ``generate --export`` did."""
    with np.load(generated["npz"], allow_pickle=False) as archive:
        keypoints, hands = archive["keypoints"], archive["hands"]
    lead_in = Motion.load(generated["npz"]).lead_in_frames
    assert keypoints.shape == (lead_in + round(SECONDS * 30), 13, 2) and hands.shape == (keypoints.shape[0], 2, 4)
    assert generated["fbx"].stat().st_size > 10_000

    done = headless("export", generated["blend"], "-o", tmp_path / "later.csv", "-o", tmp_path / "later.json")
    assert done.returncode == 0, done.stderr[-3000:]
    # time_s, then x, y per joint, then each hand's flex, turn, curl and point
    table = np.loadtxt(tmp_path / "later.csv", delimiter=",", skiprows=1)
    assert table.shape == (keypoints.shape[0], 1 + 26 + 8)
    np.testing.assert_allclose(table[:, 1:27].reshape(-1, 13, 2), keypoints, atol=1e-5)
    np.testing.assert_allclose(table[:, 27:].reshape(-1, 2, 4), hands, atol=1e-5)
    assert table[lead_in, 0] == 0.0 and table[0, 0] == pytest.approx(-lead_in / 30)  # the music's time
    document = json.loads((tmp_path / "later.json").read_text())
    assert document["weights_id"] == "procedural" and document["fps"] == 30


@pytest.mark.slow
def test_a_ten_minute_piece_generates_and_exports_exactly(tmp_path: Path) -> None:
    """Real length on the headless paths: 18,000 frames keyed, kept in the .blend and exported
    back bit for bit (the motion is stored linearly, not as one text line)."""
    import soundfile

    demo, rate_hz = soundfile.read(str(DEMO_PIECE), dtype="float32")
    repeats = int(np.ceil(600 * rate_hz / demo.shape[0]))
    piece = np.concatenate([demo if i % 2 == 0 else demo[::-1] for i in range(repeats)])[: 600 * rate_hz]
    music = tmp_path / "ten minutes.flac"
    soundfile.write(str(music), piece, rate_hz)
    blend, direct, later = tmp_path / "long.blend", tmp_path / "direct.npz", tmp_path / "later.npz"
    done = headless("generate", music, "-o", blend, "--export", direct, *FAST, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lead_in = Motion.load(direct).lead_in_frames  # the preparation before the music
    assert done.stdout.splitlines()[-1].endswith(f"s: frames 1-{18_000 + lead_in} at 30 fps"), done.stdout
    done = headless("export", blend, "-o", later, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(direct) as first, np.load(later) as second:
        assert first["keypoints"].shape == (18_000 + lead_in, 13, 2)
        np.testing.assert_array_equal(first["keypoints"], second["keypoints"])
    scene = open_blend(blend)
    assert (scene.frame_start, scene.frame_end) == (1, 18_000 + lead_in)
    assert tuple(the_action(scene.objects["Conductor"]).frame_range) == (1.0, 18_000.0 + lead_in)


def test_a_blend_in_the_previous_format_still_exports(generated: dict, tmp_path: Path) -> None:
    """Files from before the motion moved onto the action kept it as one JSON line in a text
    block: they still export, with the keypoints they stored."""
    stored_motion = import_extension("addon.stored_motion")
    scene = open_blend(generated["blend"])
    action = the_action(scene.objects["Conductor"])
    motion = stored_motion.motion_of(action)
    for key in (stored_motion.METADATA_KEY, stored_motion.KEYPOINTS_KEY):
        del action[key]
    old_document = dict(motion.metadata(), keypoints=motion.keypoints.round(5).tolist())
    bpy.data.texts.new(stored_motion.LEGACY_TEXT).from_string(json.dumps(old_document, separators=(",", ":")))
    old_file = tmp_path / "old format.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(old_file), copy=True)
    done = headless("export", old_file, "-o", tmp_path / "old.npz")
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(tmp_path / "old.npz") as archive:
        np.testing.assert_allclose(archive["keypoints"], motion.keypoints, atol=6e-6)
    nothing = tmp_path / "empty.blend"
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(nothing))
    done = headless("export", nothing, "-o", tmp_path / "none.npz")
    assert done.returncode == 1 and "holds no conducting made by this tool" in done.stderr


# ---------------------------------------------------------------------------------- batch
@pytest.mark.slow
def test_batch_reports_each_file_skips_finished_ones_and_leaves_no_partial_files(tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    write_tone(music / "good.wav", duration_s=2.0)
    write_tone(music / "blocked.flac", duration_s=2.0)
    (music / "notes.txt").write_text("not music")
    (music / "fake.mp3").write_bytes(os.urandom(4000))
    unreadable = music / "locked.ogg"
    if os.geteuid() == 0:  # root reads chmod 000 files: a link to nowhere cannot be read either
        unreadable.symlink_to(tmp_path / "gone.ogg")
    else:
        write_tone(unreadable, duration_s=2.0)
        unreadable.chmod(0)
    out = tmp_path / "out"
    (out / "blocked.blend").mkdir(parents=True)  # the finished name is taken: the final rename fails
    (out / "blocked.blend" / "keep").write_text("")

    summary = tmp_path / "summary.json"
    done = headless("batch", music, "-o", out, "--formats", "blend,npz", "--summary", summary, *FAST)
    assert done.returncode == 3, done.stderr[-3000:]
    report = json.loads(summary.read_text())
    status = {Path(f["input"]).name: f["status"] for f in report["files"]}
    assert status == {"blocked.flac": "failed", "fake.mp3": "failed", "good.wav": "done", "locked.ogg": "failed"}
    assert [Path(p).name for p in report["ignored"]] == ["notes.txt"]
    for name in ("blocked.flac", "fake.mp3", "locked.ogg"):
        assert f"{name}: FAILED" in done.stderr
    assert "3 failed" in done.stdout and "1 done" in done.stdout
    assert "MPEG" not in done.stderr + done.stdout  # libmpg123's own complaints stay in the worker
    assert (out / "good.blend").is_file() and (out / "good.npz").is_file()
    assert not (out / "fake.blend").exists() and not (out / "locked.blend").exists()
    assert (out / "blocked.blend").is_dir() and partial_files(out) == []

    stamp = (out / "good.blend").stat().st_mtime_ns
    again = headless("batch", music, "-o", out, "--formats", "blend,npz", "--summary", summary, *FAST)
    assert again.returncode == 3
    status = {Path(f["input"]).name: f["status"] for f in json.loads(summary.read_text())["files"]}
    assert status["good.wav"] == "skipped" and (out / "good.blend").stat().st_mtime_ns == stamp
    assert again.stderr.count("good.wav: skipped") == 1, again.stderr  # said once, with its reason
    assert "good.wav: skipped, its outputs exist (--force redoes it)" in again.stderr
    assert partial_files(out) == [] and (out / ".good.batch.json").is_file()  # what they were made from

    # Other music under the same name, then other settings: made again, and said why.
    write_tone(music / "good.wav", duration_s=2.5, frequency_hz=330.0)
    changed = headless("batch", music / "good.wav", "-o", out, "--formats", "blend,npz", *FAST)
    assert changed.returncode == 0 and "good.wav: made again, its music changed" in changed.stderr
    assert (out / "good.blend").stat().st_mtime_ns != stamp
    redone = Motion.load(out / "good.npz")
    assert redone.frame_count - redone.lead_in_frames == 75  # 2.5 s at 30 fps: the new music's
    changed = headless("batch", music / "good.wav", "-o", out, "--formats", "blend,npz", *FAST, "--fps", 24)
    assert changed.returncode == 0 and "good.wav: made again, its settings changed" in changed.stderr
    same = headless("batch", music / "good.wav", "-o", out, "--formats", "blend,npz", *FAST, "--fps", 24)
    assert same.returncode == 0 and "good.wav: skipped" in same.stderr

    blocked_folder = tmp_path / "a file"
    blocked_folder.write_text("")
    nowhere = headless("batch", music / "good.wav", "-o", blocked_folder / "out", *FAST)
    assert nowhere.returncode == 1 and "cannot be created" in nowhere.stderr  # before any file is tried
    missing = headless("batch", tmp_path / "no such folder", "-o", out, *FAST)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "does not exist" in missing.stderr
    usage = headless("batch", music, "-o", out, "--shard")
    assert usage.returncode == 2 and usage.stderr.startswith("usage: ")


@pytest.mark.slow
def test_batch_redoes_outputs_a_stopped_run_left_mixed_and_follows_an_edited_grid(tmp_path: Path) -> None:
    """A run that stops between outputs leaves them marked unfinished, so the next run makes
    them all again rather than keeping one of each setting; an edited grid makes the piece again;
    one grid is refused for several pieces, and a summary that cannot be written before any work."""
    music = tmp_path / "music"
    music.mkdir()
    write_tone(music / "good.wav", duration_s=2.0)
    out = tmp_path / "out"
    first = headless("batch", music, "-o", out, "--formats", "blend,npz", *FAST)
    assert first.returncode == 0, first.stderr[-3000:]
    # Other settings, and the .npz cannot be written (its name is a folder): the .blend is new, the .npz old.
    (out / "good.npz").unlink()
    (out / "good.npz").mkdir()
    stopped = headless("batch", music, "-o", out, "--formats", "blend,npz", *FAST, "--fps", 24)
    assert stopped.returncode == 3 and "good.wav: FAILED" in stopped.stderr
    (out / "good.npz").rmdir()
    (out / "good.npz").write_bytes(b"stale")  # an output of other settings, say
    blend_stamp = (out / "good.blend").stat().st_mtime_ns
    again = headless("batch", music, "-o", out, "--formats", "blend,npz", *FAST)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "good.wav: made again, its outputs were left unfinished by a run that stopped" in again.stderr
    assert (out / "good.blend").stat().st_mtime_ns != blend_stamp
    redone = Motion.load(out / "good.npz")  # 2 s at 30 fps after the lead-in: both outputs of these settings
    assert redone.fps == 30 and redone.frame_count - redone.lead_in_frames == 60

    grid = tmp_path / "grid.txt"
    grid.write_text("0.25\n0.75\n1.25\n1.75\n")
    done = headless("batch", music / "good.wav", "-o", out, "--formats", "npz", *FAST, "--beats", grid)
    assert done.returncode == 0, done.stderr[-3000:]
    grid.write_text("0.5\n1.0\n1.5\n")  # the user edits the grid: the piece is made again
    edited = headless("batch", music / "good.wav", "-o", out, "--formats", "npz", *FAST, "--beats", grid)
    assert edited.returncode == 0 and "good.wav: made again, its settings changed" in edited.stderr
    same = headless("batch", music / "good.wav", "-o", out, "--formats", "npz", *FAST, "--beats", grid)
    assert same.returncode == 0 and "good.wav: skipped" in same.stderr

    write_tone(music / "other.wav", duration_s=2.0)
    several = headless("batch", music, "-o", tmp_path / "out2", *FAST, "--beats", grid)
    assert several.returncode == 1 and "this batch has 2 music files" in several.stderr
    assert several.stderr.count("\n") == 1 and not (tmp_path / "out2").exists()
    (tmp_path / "none").write_text("")  # a file where the summary's folder would go
    nowhere = headless("batch", music, "-o", tmp_path / "out3", *FAST, "--summary", tmp_path / "none" / "s.json")
    assert nowhere.returncode == 1 and "is a file, not a folder" in nowhere.stderr and not (tmp_path / "out3").exists()
    nested = tmp_path / "album"
    (nested / "disc 1").mkdir(parents=True)
    write_tone(nested / "disc 1" / "x.wav", duration_s=1.0)
    empty = headless("batch", nested, "-o", tmp_path / "out4", *FAST)
    assert empty.returncode == 1 and "subfolders are not searched" in empty.stderr


@pytest.mark.slow
def test_shards_split_a_list_disjointly_and_completely(tmp_path: Path) -> None:
    names = [f"piece {i}.wav" for i in range(5)]
    for i, name in enumerate(names):
        write_tone(tmp_path / name, duration_s=1.5, frequency_hz=330 + 40 * i)
    listing = tmp_path / "pieces.txt"
    listing.write_text("# five pieces\n" + "\n".join(reversed(names)) + "\n")
    taken = []
    for shard in ("0/2", "1/2"):
        summary = tmp_path / f"summary {shard[0]}.json"
        done = headless(
            "batch",
            "--list",
            listing,
            "-o",
            tmp_path / "out",
            "--formats",
            "npz",
            "--shard",
            shard,
            "--summary",
            summary,
            *FAST,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        taken.append([Path(f["input"]).name for f in json.loads(summary.read_text())["files"]])
    assert not set(taken[0]) & set(taken[1])
    assert sorted(taken[0] + taken[1]) == sorted(names)
    assert taken[0] == list(reversed(names))[0::2]  # the list's order, every other one
    outputs = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    assert outputs == sorted(n.replace(".wav", ".npz") for n in names)
    records = sorted(p.name for p in (tmp_path / "out").iterdir() if p.name.startswith("."))
    assert records == sorted(f".{n.replace('.wav', '')}.batch.json" for n in names)  # what each was made from


def test_render_a_still_frame_from_the_blend(generated: dict, tmp_path: Path) -> None:
    import struct

    still = tmp_path / "frame.png"
    done = headless(
        "render",
        generated["blend"],
        "-o",
        still,
        "--frame",
        30,
        "--resolution",
        "160x120",
        "--samples",
        2,
        "--no-denoise",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    header = still.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", header[16:24]) == (160, 120)
    outside = headless("render", generated["blend"], "-o", tmp_path / "late.png", "--frame", 99999)
    assert outside.returncode == 1 and "outside the scene's frames" in outside.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame.png"]


def test_generate_on_a_grid_tells_its_notes(music: Path, tmp_path: Path) -> None:
    """The headless CLI says what core notes about a grid (here a label it cannot read), as
    `python -m core generate` does, and conducts on it."""
    grid = tmp_path / "grid.txt"
    grid.write_text(
        "".join(f"{0.25 + 0.5 * k}\t{'verse' if k == 3 else f'{1 + k // 4}.{1 + k % 4}'}\n" for k in range(15))
    )
    done = headless("generate", music, "-o", tmp_path / "on grid.blend", "--weights", "procedural", "--beats", grid)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "note: demo 8s.ogg: 'grid.txt' has 1 label that is neither bar.beat nor a beat number" in done.stderr


def test_generate_refuses_options_that_would_do_nothing(music: Path, tmp_path: Path) -> None:
    """--samples and the other video options do nothing without --render: said, not ignored."""
    output = tmp_path / "piece.blend"
    done = headless("generate", music, "-o", output, *FAST, "--samples", 4, "--no-denoise")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "error: --samples, --no-denoise only apply to a video, and none is made; add --render" in done.stderr
    assert not output.exists()
    # Likewise a key tolerance with keys it does not thin (linear ones only), in generate and batch.
    for command in (["generate", music, "-o", output], ["batch", music, "-o", tmp_path / "out"]):
        done = headless(*command, *FAST, "--interpolation", "BEZIER", "--key-tolerance", 0.001)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert "--key-tolerance only thins LINEAR keys, and --interpolation is BEZIER" in done.stderr
    assert not output.exists() and not (tmp_path / "out").exists()
