"""The Open Job Description job template of farm/openjd/ (what AWS Deadline Cloud runs), checked
with openjd-cli and run for real with ``openjd run``, the session runtime Deadline Cloud's workers
use: this test's Python (which has bpy) is the template's Blender, the repository is its project
folder, and the music is three short real pieces and a text file named bad.mp3.

Each Conduct task runs in a session of its own, all at once, as a farm runs them; the bad file
fails its own task with one sentence in that task's log while the others finish, and a second run
skips what is done. Bad input (a missing music folder, an output folder that cannot be made, a
wrong project folder, an interpreter that is not Blender) fails the Check step in one sentence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO_PIECE, PROJECT_ROOT, write_tone

pytest.importorskip("bpy")
pytest.importorskip("openjd.cli", reason="openjd-cli is not installed: pip install -e '.[test]'")
yaml = pytest.importorskip("yaml")  # comes with openjd-cli
pytestmark = pytest.mark.slow

BUNDLE = PROJECT_ROOT / "farm" / "openjd"
TEMPLATE = BUNDLE / "template.yaml"
# openjd-cli's console script, run by this Python so that no PATH is needed.
OPENJD = [sys.executable, "-c", "import sys; from openjd.cli import main; sys.argv[0] = 'openjd'; sys.exit(main())"]
GOOD_PIECES = {"piece_a": 4.0, "piece_b": 5.0, "piece_c": 6.0}  # name: seconds of music


def openjd(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*OPENJD, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def job_parameters(music: object, output: object, blender: object = sys.executable, **more: object) -> list[str]:
    values = {
        "MusicFolder": music,
        "OutputFolder": output,
        "ProjectFolder": PROJECT_ROOT,
        "Blender": blender,
        "Weights": "procedural",
        **more,
    }
    return [arg for name, value in values.items() for arg in ("-p", f"{name}={value}")]


def run_step(step: str, parameters: list[str], *task_arguments: str) -> subprocess.CompletedProcess:
    return openjd("run", TEMPLATE, "--step", step, *task_arguments, *parameters)


def log_of(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


def first_seconds(source: Path, target: Path, seconds: float) -> Path:
    import soundfile

    samples, rate_hz = soundfile.read(str(source), dtype="float32", always_2d=True)
    soundfile.write(str(target), samples[: int(seconds * rate_hz)], rate_hz)
    return target


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    """Three short real pieces of three formats, and a text file named like music (sorted first)."""
    folder = tmp_path_factory.mktemp("music")
    write_tone(folder / "piece_a.wav", duration_s=GOOD_PIECES["piece_a"], frequency_hz=440.0)
    write_tone(folder / "piece_b.flac", duration_s=GOOD_PIECES["piece_b"], frequency_hz=330.0, channels=2)
    first_seconds(DEMO_PIECE, folder / "piece_c.ogg", GOOD_PIECES["piece_c"])
    (folder / "bad.mp3").write_text("These are notes about the concert, not music.\n")
    return folder


def partial_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name or ".write-test" in p.name)


def opened_in_blender(blends: list[Path]) -> dict[str, dict]:
    """Each .blend opened in bpy: its frame range and how many armatures carry an action."""
    script = (
        "import json, os, sys, bpy\n"
        "report = {}\n"
        "for path in sys.argv[1:]:\n"
        "    bpy.ops.wm.open_mainfile(filepath=path)\n"
        "    scene = bpy.context.scene\n"
        "    animated = [o for o in scene.objects if o.type == 'ARMATURE' and o.animation_data\n"
        "                and o.animation_data.action]\n"
        "    report[os.path.basename(path)] = {'frames': [scene.frame_start, scene.frame_end],\n"
        "        'fps': scene.render.fps / scene.render.fps_base, 'animated_armatures': len(animated)}\n"
        "print(json.dumps(report), flush=True)\n"
        "os._exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, blends)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_template_passes_openjd_check_and_the_bundle_files_fit_it() -> None:
    done = openjd("check", TEMPLATE)
    assert done.returncode == 0, log_of(done)
    template = yaml.safe_load(TEMPLATE.read_text())
    names = {parameter["name"] for parameter in template["parameterDefinitions"]}
    assert {"MusicFolder", "OutputFolder", "Blender", "ProjectFolder", "TaskCount"} <= names
    defaults = {p["name"]: p.get("default") for p in template["parameterDefinitions"]}
    # The command line's defaults (headless_main.py batch --help).
    assert defaults["Blender"] == "blender" and defaults["TaskCount"] == 1
    assert (defaults["Weights"], defaults["Tracker"], defaults["Mapping"]) == ("default", "auto", "conductor")
    assert (defaults["Render"], defaults["Resolution"], defaults["Samples"], defaults["Gpu"]) == (
        "false",
        "1280x720",
        16,
        "none",
    )
    values = yaml.safe_load((BUNDLE / "parameter_values.yaml").read_text())["parameterValues"]
    assert {value["name"] for value in values} <= names
    references = yaml.safe_load((BUNDLE / "asset_references.yaml").read_text())["assetReferences"]
    assert set(references) == {"inputs", "outputs", "referencedPaths"}


@pytest.mark.slow
def test_one_task_per_file_the_bad_one_fails_alone_and_a_rerun_skips(music: Path, tmp_path: Path) -> None:
    output = tmp_path / "renders" / "conducted"  # made by the Check step
    parameters = job_parameters(music, output, TaskCount=4)

    check = run_step("Check", parameters)
    assert check.returncode == 0, log_of(check)
    assert "check: 4 music files in" in check.stdout and output.is_dir()

    # All four tasks at once, each in its own session, as four workers would run them.
    running = {
        number: subprocess.Popen(
            [*OPENJD, "run", str(TEMPLATE), "--step", "Conduct", "-tp", f"TaskNumber={number}", *parameters],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for number in (1, 2, 3, 4)
    }
    logs = {number: process.communicate(timeout=300)[0] for number, process in running.items()}
    status = {number: process.returncode for number, process in running.items()}

    # Task 1 took bad.mp3 (the first of the sorted folder): it fails, saying why in one sentence.
    assert status[1] != 0 and (status[2], status[3], status[4]) == (0, 0, 0), logs
    assert "exited with code: 3" in logs[1]  # batch's "some files failed"
    reasons = [line.split("bad.mp3: ", 1)[1] for line in logs[1].splitlines() if "failed /" in line]
    assert len(reasons) == 1 and reasons[0].endswith(".") and reasons[0].count(". ") == 0, logs[1]
    assert "bad.mp3" in reasons[0] and "Traceback" not in logs[1]
    for number in (2, 3, 4):
        assert "1 done, 0 skipped" in logs[number], logs[number]

    made = sorted(p.name for p in output.iterdir())
    assert made == [".piece_a.batch.json", ".piece_b.batch.json", ".piece_c.batch.json"] + [
        f"{name}.blend" for name in GOOD_PIECES
    ]
    assert partial_files(output) == []
    report = opened_in_blender([output / f"{name}.blend" for name in GOOD_PIECES])
    for name, seconds in GOOD_PIECES.items():
        scene = report[f"{name}.blend"]
        assert scene["animated_armatures"] == 1, report
        assert scene["frames"][1] - scene["frames"][0] >= 0.9 * seconds * scene["fps"], report

    # The job again: the finished pieces are skipped (untouched), the bad file fails again alone.
    stamps = {p.name: p.stat().st_mtime_ns for p in output.iterdir()}
    again = run_step("Conduct", parameters, "--tasks", json.dumps([{"TaskNumber": str(n)} for n in (2, 3, 4)]))
    assert again.returncode == 0, log_of(again)
    assert log_of(again).count("0 done, 1 skipped") == 3
    bad_again = run_step("Conduct", parameters, "-tp", "TaskNumber=1")
    assert bad_again.returncode != 0 and "bad.mp3" in log_of(bad_again)
    assert {p.name: p.stat().st_mtime_ns for p in output.iterdir()} == stamps


@pytest.mark.slow
def test_fewer_tasks_than_files_take_several_each(music: Path, tmp_path: Path) -> None:
    """Two tasks for four files: task 1 has bad.mp3 and piece_b, and still makes piece_b."""
    output = tmp_path / "out"
    parameters = job_parameters(music, output, TaskCount=2, Exports="npz")
    first = run_step("Conduct", parameters, "-tp", "TaskNumber=1", "--run-dependencies")
    second = run_step("Conduct", parameters, "-tp", "TaskNumber=2")
    assert first.returncode != 0 and "1 done, 0 skipped (already finished), 1 failed" in log_of(first)
    assert second.returncode == 0, log_of(second)
    assert sorted(p.name for p in output.iterdir() if not p.name.startswith(".")) == sorted(
        f"{name}.{suffix}" for name in GOOD_PIECES for suffix in ("blend", "npz")
    )


@pytest.mark.slow
def test_a_blender_executable_is_run_with_b_and_p(music: Path, tmp_path: Path) -> None:
    """A stand-in for a Blender executable (no Blender binary on the test machines): it answers
    --version as Blender does and runs the two command lines run_task.sh gives Blender with this
    Python, refusing any other; the job then runs the same as with the bpy module."""
    stand_in = tmp_path / "bin" / "blender"
    stand_in.parent.mkdir()
    stand_in.write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$*" = --version ]; then echo "Blender 5.0.1 (stand-in)"; exit 0; fi\n'
        'if [ "$1 $2 $3 $4" = "-b --python-exit-code 1 --python-expr" ] && [ $# -eq 5 ]; then\n'
        f'    exec "{sys.executable}" -c "$5"\n'
        "fi\n"
        'if [ "$1 $2 $3 $4" = "-b --python-exit-code 1 -P" ] && [ "$6" = -- ]; then\n'
        f'    exec "{sys.executable}" "$5" "${{@:6}}"  # headless_main.py reads what follows "--"\n'
        "fi\n"
        'echo "stand-in blender: unexpected arguments: $*" >&2; exit 64\n'
    )
    stand_in.chmod(0o755)
    one_piece = tmp_path / "music"
    one_piece.mkdir()
    (one_piece / "piece_a.wav").write_bytes((music / "piece_a.wav").read_bytes())
    output = tmp_path / "out"
    done = run_step("Conduct", job_parameters(one_piece, output, blender=stand_in), "--run-dependencies")
    assert done.returncode == 0, log_of(done)
    assert "Blender 5.0.1 (stand-in) (blender)" in done.stdout
    assert (output / "piece_a.blend").is_file()


def project_without_code(tmp_path: Path) -> Path:
    """A folder with farm/run_task.sh but not the rest of the project."""
    folder = tmp_path / "just_the_farm_folder"
    (folder / "farm").mkdir(parents=True)
    (folder / "farm" / "run_task.sh").write_bytes((PROJECT_ROOT / "farm" / "run_task.sh").read_bytes())
    return folder


REFUSALS = {  # what is wrong: the sentence the Check step's error starts with
    "missing music folder": "Music folder '{missing}' does not exist on this worker;",
    "music folder without music": "Music folder '{empty}' holds no music files",
    "output folder under a file": "Output folder '{under_file}' cannot be created on this worker;",
    "output folder not writable": "Output folder '{read_only}/out' cannot be created on this worker;",
    "wrong project folder": "Project folder '{elsewhere}' holds no farm/run_task.sh;",
    "project folder without the code": "Project folder '{farm_only}' holds no addon/headless_main.py;",
    "Blender not found": "Blender '{missing}/blender' was not found on this worker;",
    "neither Blender nor Python": "'/bin/ls' is neither Blender nor Python",
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_input_fails_the_check_step_in_one_sentence(music: Path, tmp_path: Path, case: str) -> None:
    if case == "output folder not writable" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    paths = {
        "missing": tmp_path / "nowhere",
        "empty": tmp_path / "empty",
        "under_file": tmp_path / "a_file.txt" / "out",
        "read_only": tmp_path / "read_only",
        "elsewhere": tmp_path,
        "farm_only": project_without_code(tmp_path),
    }
    paths["empty"].mkdir()
    paths["read_only"].mkdir(mode=0o555)
    (tmp_path / "a_file.txt").write_text("not a folder\n")
    job: dict[str, object] = {"music": music, "output": tmp_path / "out", "project": PROJECT_ROOT}
    blender: object = sys.executable
    if case == "Blender not found":
        blender = paths["missing"] / "blender"
    elif case == "neither Blender nor Python":
        blender = "/bin/ls"
    else:
        job.update(
            {
                "missing music folder": {"music": paths["missing"]},
                "music folder without music": {"music": paths["empty"]},
                "output folder under a file": {"output": paths["under_file"]},
                "output folder not writable": {"output": paths["read_only"] / "out"},
                "wrong project folder": {"project": paths["elsewhere"]},
                "project folder without the code": {"project": paths["farm_only"]},
            }[case]
        )
    done = run_step("Check", job_parameters(job["music"], job["output"], blender, ProjectFolder=job["project"]))
    assert done.returncode != 0
    errors = [line.split("error: ", 1)[1] for line in log_of(done).splitlines() if "error: " in line]
    assert len(errors) == 1 and errors[0].startswith(REFUSALS[case].format(**paths)), log_of(done)
    assert errors[0].endswith(".") and errors[0].count(". ") == 0
    assert not (tmp_path / "out").exists() and not (paths["read_only"] / "out").exists()  # nothing written
