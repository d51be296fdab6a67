"""The Flamenco 3 job type of farm/flamenco/virtual_conductor.js, compiled under Node against a
small stand-in of Flamenco's documented job-compiler API (tests/farm/flamenco_stand_in.js): no
Flamenco Manager can run on the test machines, so Flamenco's own scheduling, variables and retries
are not exercised. What is tested: the settings and their defaults, the tasks, commands and
dependencies compileJob makes, the settings it refuses at submission, and (slow) the compiled
commands run in dependency order by a stand-in worker, on real music.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, write_tone

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH; the Flamenco job type is JavaScript")

JOB_TYPE_FILE = PROJECT_ROOT / "farm" / "flamenco" / "virtual_conductor.js"
STAND_IN = Path(__file__).with_name("flamenco_stand_in.js")
REQUIRED = {"music_folder": "/farm/music", "output_folder": "/farm/out", "project_folder": "/farm/virtualconductor"}


def compile_job(**settings: object) -> dict:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(STAND_IN), str(JOB_TYPE_FILE), json.dumps(settings)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def settings_given(command: dict) -> dict[str, str]:
    """A task's settings for farm/run_task.sh: {"--task": "1/3", "--weights": "default", ...}."""
    return dict(arg.split("=", 1) for arg in command["parameters"]["args"] if arg.startswith("--"))


def test_the_job_type_declares_the_command_lines_settings_with_its_defaults() -> None:
    job_type = compile_job(**REQUIRED)["job_type"]
    settings = {setting["key"]: setting for setting in job_type["settings"]}
    assert len(settings) == len(job_type["settings"])  # each key once
    assert {key for key, setting in settings.items() if setting.get("required")} == set(REQUIRED)
    assert all(setting["type"] in ("string", "int32", "float", "bool") for setting in settings.values())
    defaults = {key: setting.get("default") for key, setting in settings.items()}
    assert defaults["blender"] == "{blender}" and defaults["task_count"] == 1
    # The command line's defaults (headless_main.py batch --help).
    assert (defaults["weights"], defaults["tracker"], defaults["mapping"]) == ("default", "auto", "conductor")
    assert (defaults["render"], defaults["resolution"], defaults["samples"], defaults["gpu"]) == (
        False,
        "1280x720",
        16,
        "none",
    )


def test_a_check_task_then_one_conduct_task_per_share() -> None:
    tasks = compile_job(**REQUIRED, task_count=3, weights="procedural", exports="glb,npz")["tasks"]
    assert [task["name"] for task in tasks] == ["check", "conduct-1-of-3", "conduct-2-of-3", "conduct-3-of-3"]
    assert all(task["type"] == "blender" and len(task["commands"]) == 1 for task in tasks)
    check, *conducts = tasks
    assert check["dependencies"] == [] and all(task["dependencies"] == ["check"] for task in conducts)
    for number, task in enumerate(conducts, start=1):
        (command,) = task["commands"]
        assert command["name"] == "exec" and command["parameters"]["exe"] == "bash"
        args = command["parameters"]["args"]
        assert args[0] == "-c" and 'exec bash "$2/farm/run_task.sh" "$@"' in args[1]
        assert args[3:8] == ["{blender}", "/farm/virtualconductor", "conduct", "/farm/music", "/farm/out"]
        assert settings_given(command) == {
            "--task": f"{number}/3",
            "--render": "false",
            "--weights": "procedural",
            "--tracker": "auto",
            "--mapping": "conductor",
            "--scene": "",
            "--armature": "",
            "--exports": "glb,npz",
            "--resolution": "1280x720",
            "--samples": "16",
            "--gpu": "none",
            "--extra": "",
        }
    assert check["commands"][0]["parameters"]["args"][5] == "check"


def test_render_adds_a_render_task_per_share_after_its_conduct_task() -> None:
    tasks = compile_job(**REQUIRED, task_count=2, render=True, resolution="640x360", samples=4)["tasks"]
    by_name = {task["name"]: task for task in tasks}
    assert list(by_name) == ["check", "conduct-1-of-2", "render-1-of-2", "conduct-2-of-2", "render-2-of-2"]
    for number in (1, 2):
        render = by_name[f"render-{number}-of-2"]
        assert render["dependencies"] == [f"conduct-{number}-of-2"]
        conduct_settings = settings_given(by_name[f"conduct-{number}-of-2"]["commands"][0])
        render_settings = settings_given(render["commands"][0])
        assert (conduct_settings.pop("--render"), render_settings.pop("--render")) == ("false", "true")
        # The same settings otherwise, so batch keeps the conduct task's .blend files and adds videos.
        assert conduct_settings == render_settings and render_settings["--resolution"] == "640x360"


@pytest.mark.parametrize(
    ("settings", "sentence"),
    [
        (
            {"music_folder": "", "output_folder": "/out", "project_folder": "/vc"},
            "The setting music_folder is required",
        ),
        ({**REQUIRED, "task_count": 0}, "The setting task_count must be a whole number of at least 1"),
        ({**REQUIRED, "task_count": 2.5}, "The setting task_count must be a whole number of at least 1"),
        ({**REQUIRED, "resolution": "1280*720"}, "The setting resolution must be WIDTHxHEIGHT"),
        ({**REQUIRED, "tracker": "madmom"}, "The setting tracker must be one of auto, learned, dsp."),
        ({**REQUIRED, "gpu": "vulkan"}, "The setting gpu must be one of none, cuda"),
    ],
)
def test_settings_that_would_fail_every_task_are_refused_at_submission(settings: dict, sentence: str) -> None:
    compiled = compile_job(**settings)
    assert "tasks" not in compiled and compiled["error"].startswith(sentence), compiled


def run_like_a_worker(tasks: list[dict], blender: str) -> dict[str, subprocess.CompletedProcess | None]:
    """Run each task's commands once all its dependencies succeeded, as Flamenco Workers would
    (one at a time here); a task whose dependency failed is never run (None). ``{blender}``, the
    Manager's variable, becomes ``blender``."""
    results: dict[str, subprocess.CompletedProcess | None] = {}
    for task in tasks:  # compileJob adds each task after its dependencies
        if any(results[name] is None or results[name].returncode != 0 for name in task["dependencies"]):
            results[task["name"]] = None
            continue
        for command in task["commands"]:
            assert command["name"] == "exec"
            args = [arg.replace("{blender}", blender) for arg in command["parameters"]["args"]]
            done = subprocess.run(
                [command["parameters"]["exe"], *args], capture_output=True, text=True, timeout=300, check=False
            )
            results[task["name"]] = done
            if done.returncode != 0:
                break
    return results


@pytest.mark.slow
def test_the_compiled_tasks_conduct_and_render_a_folder_on_a_stand_in_worker(tmp_path: Path) -> None:
    pytest.importorskip("bpy")
    music = tmp_path / "music"
    music.mkdir()
    (music / "bad.mp3").write_text("not music\n")
    write_tone(music / "march.wav", duration_s=4.0, frequency_hz=440.0)
    write_tone(music / "waltz.flac", duration_s=5.0, frequency_hz=330.0)
    output = tmp_path / "out"
    compiled = compile_job(
        music_folder=str(music),
        output_folder=str(output),
        project_folder=str(PROJECT_ROOT),
        task_count=2,  # task 1: bad.mp3 and waltz.flac, task 2: march.wav
        weights="procedural",
        render=True,
        resolution="64x36",
        samples=1,
        extra_arguments="--seconds 0.4 --no-denoise",
    )
    results = run_like_a_worker(compiled["tasks"], blender=sys.executable)

    assert results["check"] is not None and results["check"].returncode == 0, results["check"]
    first, second = results["conduct-1-of-2"], results["conduct-2-of-2"]
    assert first is not None and first.returncode == 3  # batch: some files failed, the others done
    assert "bad.mp3" in first.stdout and "1 done, 0 skipped (already finished), 1 failed" in first.stdout
    assert results["render-1-of-2"] is None  # its conduct task failed
    assert second is not None and second.returncode == 0, second.stderr[-2000:]
    rendered = results["render-2-of-2"]
    assert rendered is not None and rendered.returncode == 0, rendered.stderr[-2000:]
    assert "1 done, 0 skipped" in rendered.stdout  # only the video was missing
    visible = sorted(p.name for p in output.iterdir() if not p.name.startswith("."))
    assert visible == ["march.blend", "march.mp4", "waltz.blend"]
    assert (output / "march.mp4").stat().st_size > 1000


def test_a_wrong_project_folder_fails_the_check_task_in_one_sentence(tmp_path: Path) -> None:
    compiled = compile_job(
        music_folder=str(tmp_path), output_folder=str(tmp_path / "out"), project_folder=str(tmp_path)
    )
    results = run_like_a_worker(compiled["tasks"], blender=sys.executable)
    check = results["check"]
    assert check is not None and check.returncode == 1
    assert check.stderr == (
        f"error: Project folder '{tmp_path}' holds no farm/run_task.sh; give the VirtualConductor folder "
        "(the one with addon/, core/ and farm/) on a path every worker reads.\n"
    )
    assert results["conduct-1-of-1"] is None and not (tmp_path / "out").exists()
