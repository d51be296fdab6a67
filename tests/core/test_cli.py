"""``python -m core`` as a user runs it: real processes, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import (
    bf16_refusal,
    cpu_has_bf16,
    DEMO_PIECE,
    GOLDEN_AUDIO,
    OFFICIAL_GENERATOR,
    OFFICIAL_M2SNET,
    PROJECT_ROOT,
    write_tone,
)


def run_cli(*args, check_rc=None, env=None):
    result = subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=None if env is None else {**os.environ, **env},
    )
    if check_rc is not None:
        assert result.returncode == check_rc, result.stderr
    return result


@pytest.mark.slow
def test_mel_then_generate_from_mel_matches_golden(tmp_path, golden, parity_dir):
    run_cli("mel", GOLDEN_AUDIO, "-o", tmp_path / "mel.npy", check_rc=0)
    mel = np.load(tmp_path / "mel.npy")
    assert np.abs(mel - golden["mel"]).max() < 1e-4
    noise = tmp_path / "noise.npy"
    np.save(noise, golden["noise"])  # (1, S, 8)
    run_cli(
        "generate",
        tmp_path / "mel.npy",
        "-o",
        tmp_path / "m.npz",
        "--weights",
        OFFICIAL_GENERATOR,
        "--noise",
        noise,
        "--device",
        "cpu",
        check_rc=0,
    )
    with np.load(tmp_path / "m.npz") as archive:
        assert np.abs(archive["keypoints"] - golden["motion"][0]).max() < 1e-4
        assert float(archive["fps"]) == 30.0


@pytest.mark.slow
def test_generate_audio_with_seed_and_fps(tmp_path, parity_dir):
    result = run_cli(
        "generate",
        GOLDEN_AUDIO,
        "-o",
        tmp_path / "m.json",
        "--weights",
        OFFICIAL_GENERATOR,
        "--seed",
        5,
        "--fps",
        24,
        "--variation",
        0.5,
        check_rc=0,
    )
    assert "960 frames at 24 fps" in result.stdout
    document = json.loads((tmp_path / "m.json").read_text())
    assert document["fps"] == 24 and document["seed"] == 5
    assert np.asarray(document["keypoints"]).shape == (960, 13, 2)
    assert document["audio_sha256"] and document["source_audio"] == GOLDEN_AUDIO.name


@pytest.mark.slow
def test_generate_in_bf16_where_the_cpu_has_it_and_refuse_it_elsewhere(tmp_path, parity_dir):
    out = tmp_path / "half.json"
    result = run_cli("generate", GOLDEN_AUDIO, "-o", out, "--weights", OFFICIAL_GENERATOR, "--precision", "bf16")
    refusal = bf16_refusal()
    if refusal is None:
        assert result.returncode == 0, result.stderr
        document = json.loads(out.read_text())
        assert document["extra"]["precision"] == "bf16" and np.asarray(document["keypoints"]).shape == (1200, 13, 2)
    else:
        assert result.returncode == 1 and refusal in result.stderr and not out.exists()
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "limit", [{"ONEDNN_MAX_CPU_ISA": "AVX2"}, {"ONEDNN_MAX_CPU_ISA": "avx512_core_vnni"}, {"DNNL_MAX_CPU_ISA": "AVX2"}]
)
@pytest.mark.slow
def test_bf16_is_refused_in_one_sentence_where_onednn_is_kept_from_it(tmp_path, parity_dir, limit):
    """An instruction-set limit below AVX512_CORE_BF16 keeps oneDNN from the CPU's bfloat16: its
    convolution then fails (AVX2) or emulates it 2x slower than float32 (AVX512_CORE_VNNI). The
    command says so before it writes anything."""
    if not cpu_has_bf16():
        pytest.skip("this CPU has no bfloat16 arithmetic to hide (its refusal is tested above)")
    out = tmp_path / "half.npz"
    result = run_cli(
        "generate",
        GOLDEN_AUDIO,
        "-o",
        out,
        "--weights",
        OFFICIAL_GENERATOR,
        "--precision",
        "bf16",
        env=limit,
    )
    assert result.returncode == 1 and "oneDNN is kept from it" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_procedural_conductor_beats_the_meter_it_is_given(tmp_path):
    demo = DEMO_PIECE  # 4/4, and detected so
    run_cli("generate", demo, "-o", tmp_path / "three.npz", "--weights", "procedural", "--meter", 3, check_rc=0)
    run_cli("generate", demo, "-o", tmp_path / "found.npz", "--weights", "procedural", check_rc=0)
    from core.motion.keypoints import Motion

    three, found = Motion.load(tmp_path / "three.npz"), Motion.load(tmp_path / "found.npz")
    assert three.extra["meter"] == 3 and found.extra["meter"] == 4
    assert three.extra["beats_s"] == found.extra["beats_s"]  # the same beats, grouped in three
    assert len(three.extra["downbeats_s"]) > len(found.extra["downbeats_s"])
    assert not np.allclose(three.keypoints, found.keypoints, atol=1e-3)  # and drawn in the 3-beat pattern


@pytest.mark.slow
def test_the_tracker_is_chosen_in_both_commands_and_recorded(tmp_path):
    for tracker in ("dsp", "learned"):
        run_cli("beats", DEMO_PIECE, "-o", tmp_path / f"{tracker}.json", "--tracker", tracker, check_rc=0)
        grid = json.loads((tmp_path / f"{tracker}.json").read_text())
        assert len(grid["beats_s"]) > 40 and grid["source"] == "tracked", grid
        run_cli(
            "generate",
            DEMO_PIECE,
            "-o",
            tmp_path / f"{tracker}.npz",
            "--weights",
            "procedural",
            "--tracker",
            tracker,
            check_rc=0,
        )
    from core.motion.keypoints import Motion

    dsp, learned = Motion.load(tmp_path / "dsp.npz"), Motion.load(tmp_path / "learned.npz")
    assert dsp.extra["tracker"] == "dsp" and learned.extra["tracker"] == "beat_tracker_cpu_v3"
    assert json.loads((tmp_path / "learned.json").read_text())["tracker"] == "beat_tracker_cpu_v3"
    grid = tmp_path / "dsp.json"
    result = run_cli("generate", DEMO_PIECE, "-o", tmp_path / "g.npz", "--tracker", "dsp", "--beats", grid, check_rc=1)
    assert "A beat grid replaces the tracker; drop --tracker or --beats." in result.stderr


@pytest.mark.slow
def test_the_conducting_style_reaches_the_procedural_conductor_only(tmp_path):
    run_cli(
        "generate",
        DEMO_PIECE,
        "-o",
        tmp_path / "s.npz",
        "--weights",
        "procedural",
        "--articulation",
        "staccato",
        "--gesture-size",
        1.2,
        "--energy",
        0.5,
        "--left-hand-activity",
        0,
        check_rc=0,
    )
    from core.motion.keypoints import Motion

    style = Motion.load(tmp_path / "s.npz").extra["style"]
    assert style == {"gesture_size": 1.2, "energy": 0.5, "articulation": "staccato", "left_hand_activity": 0.0}
    refused = run_cli(
        "generate", DEMO_PIECE, "-o", tmp_path / "n.npz", "--weights", "neural", "--energy", 2, check_rc=1
    )
    assert "procedural conductor only" in refused.stderr and not (tmp_path / "n.npz").exists()
    for flag, value in (("--precision", "bf16"), ("--device", "cuda")):  # no network: said, not ignored
        refused = run_cli("generate", DEMO_PIECE, "-o", tmp_path / "p.npz", "--weights", "procedural", flag, value)
        assert refused.returncode == 1 and "The procedural conductor runs no network" in refused.stderr
        assert f"drop {flag}" in refused.stderr and not (tmp_path / "p.npz").exists()


@pytest.mark.slow
def test_progress_jsonl_protocol(tmp_path, parity_dir):
    result = run_cli(
        "generate",
        GOLDEN_AUDIO,
        "-o",
        tmp_path / "m.npz",
        "--weights",
        OFFICIAL_GENERATOR,
        "--progress-jsonl",
        check_rc=0,
    )
    events = [json.loads(line) for line in result.stdout.splitlines()]
    fractions = [event["fraction"] for event in events if event["event"] == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert events[-1]["event"] == "result" and events[-1]["output"].endswith("m.npz")
    bad = run_cli(
        "generate",
        GOLDEN_AUDIO,
        "-o",
        tmp_path / "m.npz",
        "--weights",
        tmp_path / "none.pt",
        "--progress-jsonl",
        check_rc=1,
    )
    last = json.loads(bad.stdout.splitlines()[-1])
    assert last["event"] == "error" and "does not exist" in last["message"]


@pytest.mark.parametrize(
    "flags, phrase",
    [
        (["--variation", "-1"], "argument --variation: must be between 0 and 4, got -1"),
        (["--fps", "0"], "argument --fps: must be between 1 and 1000, got 0"),
        (["--meter", "7"], "argument --meter: must be one of 1, 2, 3, 4, 5, 6, got 7"),
        (["--seed", "1", "--noise", "n.npy"], "argument --noise: not allowed with argument --seed"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--tracker", "madmom"], "argument --tracker: must be one of auto, learned, dsp, got 'madmom'"),
    ],
)
def test_a_malformed_command_line_exits_2_before_any_work(tmp_path, flags, phrase):
    """argparse's convention: a usage error is exit status 2 with the usage message, at once."""
    result = run_cli("generate", tmp_path / "not-even-read.ogg", "-o", tmp_path / "m.npz", *flags, check_rc=2)
    assert result.stderr.startswith("usage: ") and phrase in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "m.npz").exists()


def test_help_states_the_exit_status_contract():
    text = " ".join(run_cli("--help", check_rc=0).stdout.split())  # argparse wraps the epilog
    assert "1 bad input" in text and "2 a malformed command line" in text and "70 an internal error" in text


@pytest.mark.parametrize(
    "case, phrase",
    [
        ("missing", "does not exist"),
        ("short", "at least 1 second"),
        ("wrong-weights", "m2snet weights"),
        ("missing-weights", "does not exist"),
        ("bad-output-suffix", ".npz, .json or .csv"),
        ("output-folder-is-a-file", "is a file, not a folder"),
        ("meter-for-a-network", "only be set for the procedural conductor"),
    ],
)
@pytest.mark.slow
def test_bad_input_exits_non_zero_with_one_sentence(tmp_path, parity_dir, case, phrase):
    audio, weights, output = GOLDEN_AUDIO, OFFICIAL_GENERATOR, tmp_path / "m.npz"
    if case == "missing":
        audio = tmp_path / "nothing.mp3"
    elif case == "short":
        audio = write_tone(tmp_path / "short.wav", duration_s=0.6)
    elif case == "wrong-weights":
        weights = OFFICIAL_M2SNET
    elif case == "missing-weights":
        weights = tmp_path / "none.pt"
    elif case == "bad-output-suffix":
        output = tmp_path / "m.mp4"
    elif case == "output-folder-is-a-file":
        (tmp_path / "no").write_text("")
        output = tmp_path / "no" / "m.npz"
    extra = ["--meter", "3"] if case == "meter-for-a-network" else []
    result = run_cli("generate", audio, "-o", output, "--weights", weights, *extra)
    assert result.returncode == 1
    message = result.stderr.strip()
    assert message.startswith("error: ") and phrase in message and len(message.splitlines()) == 1, message
    assert "Traceback" not in result.stderr
    assert not output.exists()
    assert not any(p.name.startswith(".m.") for p in tmp_path.iterdir())


@pytest.mark.slow
def test_failed_write_leaves_no_partial_file(tmp_path, parity_dir):
    # a directory squatting on the output name makes the final rename fail
    output = tmp_path / "m.npz"
    output.mkdir()
    result = run_cli("generate", GOLDEN_AUDIO, "-o", output, "--weights", OFFICIAL_GENERATOR)
    assert result.returncode == 1 and "choose a writable location" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


@pytest.mark.slow
def test_a_mel_with_nan_or_raw_decibels_is_refused(tmp_path, parity_dir):
    nan_mel = np.full((300, 128), 0.5, np.float32)
    nan_mel[10, 3] = np.nan
    np.save(tmp_path / "nan.npy", nan_mel)
    np.save(tmp_path / "db.npy", np.full((300, 128), -40.0, np.float32))
    for name in ("nan.npy", "db.npy"):
        result = run_cli("generate", tmp_path / name, "-o", tmp_path / "m.npz", "--weights", OFFICIAL_GENERATOR)
        assert result.returncode == 1 and "not the normalised mel feature" in result.stderr
    assert not (tmp_path / "m.npz").exists()


def test_a_missing_dependency_is_one_sentence(tmp_path, parity_dir):
    # `python -S` skips site-packages: a real interpreter where torch (and numpy) are absent
    result = subprocess.run(
        [sys.executable, "-S", "-m", "core", "generate", str(GOLDEN_AUDIO), "-o", str(tmp_path / "m.npz")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: The package '") and "is not installed" in result.stderr
    assert "Traceback" not in result.stderr


def test_notes_on_a_grid_are_told_as_events_and_on_stderr(tmp_path):
    """A grid with labels it cannot read conducts, and says so: a JSON "note" event for the
    add-on's worker, a "note:" line for a person."""
    grid = tmp_path / "grid.txt"
    grid.write_text(
        "".join(f"{0.5 + 0.5 * k}\t{'verse' if k == 3 else f'{1 + k // 4}.{1 + k % 4}'}\n" for k in range(78))
    )
    machine = run_cli(
        "generate",
        GOLDEN_AUDIO,
        "-o",
        tmp_path / "m.npz",
        "--weights",
        "procedural",
        "--beats",
        grid,
        "--progress-jsonl",
        check_rc=0,
    )
    notes = [json.loads(line) for line in machine.stdout.splitlines() if '"note"' in line]
    assert [note["event"] for note in notes if "such as 'verse'" in note["message"]] == ["note"]
    assert "note:" not in machine.stderr  # the worker reads events, not lines
    person = run_cli(
        "generate", GOLDEN_AUDIO, "-o", tmp_path / "p.npz", "--weights", "procedural", "--beats", grid, check_rc=0
    )
    assert "note: 'grid.txt' has 1 label that is neither bar.beat nor a beat number (such as 'verse')" in person.stderr


def test_beats_of_silence_say_none_were_heard(tmp_path):
    import soundfile

    silence = tmp_path / "silence.wav"
    soundfile.write(str(silence), np.zeros(22_050 * 10, dtype=np.float32), 22_050)
    done = run_cli("beats", silence, "-o", tmp_path / "grid.txt", check_rc=0)
    assert "no beats heard in 10.0 s" in done.stdout and "0 a minute" not in done.stdout
    assert (tmp_path / "grid.txt").is_file()
    # generate says so too, and the empty grids given back conduct exactly as the tracked silence
    tracked = run_cli("generate", silence, "-o", tmp_path / "tracked.npz", "--weights", "procedural", check_rc=0)
    assert "note: No beats were heard in 'silence.wav' (silence, or no steady pulse), so the conductor stands" in (
        tracked.stderr
    )
    with np.load(tmp_path / "tracked.npz") as archive:
        still = archive["keypoints"]
    for suffix in (".txt", ".json", ".csv"):
        grid = tmp_path / f"grid{suffix}"
        run_cli("beats", silence, "-o", grid, check_rc=0)
        given = run_cli(
            "generate", silence, "-o", tmp_path / "given.npz", "--weights", "procedural", "--beats", grid, check_rc=0
        )
        assert f"note: 'grid{suffix}' holds no beats" in given.stderr
        with np.load(tmp_path / "given.npz") as archive:
            np.testing.assert_array_equal(archive["keypoints"], still)


def test_a_broken_midi_grid_and_a_mel_not_named_npy_are_refused_in_one_sentence(tmp_path):
    fake = tmp_path / "fake.mid"
    fake.write_text("not a MIDI file")
    done = run_cli("generate", GOLDEN_AUDIO, "-o", tmp_path / "m.npz", "--beats", fake, check_rc=1)
    assert (
        done.stderr == "error: 'fake.mid' cannot be read: it is not a Standard MIDI File; give the piece's MIDI file.\n"
    )
    done = run_cli("mel", GOLDEN_AUDIO, "-o", tmp_path / "m.txt", check_rc=1)
    assert "name it .npy" in done.stderr and not (tmp_path / "m.txt").exists()


def test_an_output_folder_that_is_a_file_is_named_as_such_and_a_missing_one_made(tmp_path):
    (tmp_path / "a file").write_text("")
    done = run_cli("beats", GOLDEN_AUDIO, "-o", tmp_path / "a file" / "grid.txt", check_rc=1)
    assert done.stderr == f"error: Output folder '{tmp_path / 'a file'}' is a file, not a folder; pick another.\n"
    done = run_cli("beats", GOLDEN_AUDIO, "-o", tmp_path / "a file" / "deeper" / "grid.txt", check_rc=1)
    assert done.stderr.startswith(f"error: Output folder '{tmp_path / 'a file' / 'deeper'}' cannot be created (")
    run_cli("beats", GOLDEN_AUDIO, "-o", tmp_path / "new" / "folder" / "grid.txt")  # as the Blender commands do
    assert (tmp_path / "new" / "folder" / "grid.txt").is_file()


def test_generate_says_how_much_of_the_motion_comes_before_the_music(tmp_path):
    """The demo piece plays from its first beat: the procedural conductor's preparation comes
    before the music, the output line says how long, and the .csv's time column is the music's."""
    result = run_cli("generate", DEMO_PIECE, "-o", tmp_path / "m.csv", "--weights", "procedural", check_rc=0)
    from core.motion.keypoints import Motion

    motion = Motion.load(tmp_path / "m.csv")
    assert motion.lead_in_frames >= 15
    assert f"the first {motion.lead_in_frames} frames ({motion.lead_in_s:.2f} s) come before the music" in result.stdout
    times_s = np.loadtxt(tmp_path / "m.csv", delimiter=",", skiprows=1, usecols=0)
    assert times_s[0] == pytest.approx(-motion.lead_in_s) and times_s[motion.lead_in_frames] == 0.0
