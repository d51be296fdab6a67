"""Real lengths on every path: whole-process seconds and peak memory for 1, 10 and 120 minutes.

Each path runs as a user runs it, in its own process (Blender's start-up and the imports
included): ``python -m core generate`` (procedural and a network), headless ``generate``,
``batch``, ``render`` up to the first frame, ``export``, and the add-on's *Generate* through its
worker. Peak memory is the largest resident size of the whole process tree (the add-on's worker
included), sampled every 20 ms. The seconds per minute of music show a step that is not linear.
Then the speed goals against the reference pipeline (bench/reference_pipeline.py: librosa's mel
and the plain generator in 60-s windows, as the official code) on a 584-s piece, in the same run,
and the import time of the default (procedural) path. The network path runs three ways: here,
where PyTorch is installed (the default on the CPU, ONNX Runtime, and ``--runtime torch``, the
path before it), and in each Python without PyTorch given (``--python-without-torch``, repeatable;
by default the Blender 5.3 test environment, .venv-bpy53: Python 3.13, NumPy 2, the bundled ONNX
Runtime and no SciPy, as Blender's users run it). Where the CPU has bfloat16 arithmetic (AVX-512 BF16, AMX), also the
network path with ``--precision bf16`` and how far its keypoints are from float32's.

    python bench/lengths.py [--minutes 1 10] [--with-120] [--repeat 3] [--python-without-torch PYTHON ...]

The pieces are the demo piece played over and over, alternately reversed (no two minutes alike),
written as FLAC. Quote the figures as ratios measured in one run: the machine may be shared.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PARITY_GENERATOR = ROOT.parent / "shared" / "parity" / "M2SGAN_official_pretrained.pt"
HEADLESS = [sys.executable, str(ROOT / "addon" / "headless_main.py")]

GOAL_HEADLESS_10MIN_S = 10.0
GOAL_2H_S = 120.0
GOAL_2H_PEAK_MB = 2048.0
GOAL_IMPORT_S = 0.5
GOAL_PROCEDURAL_SPEEDUP = 6.0
GOAL_NETWORK_SPEEDUP = 4.0
GOAL_NETWORK_SPEEDUP_WITHOUT_TORCH = 4.0  # the target is 5x
REFERENCE_PIECE_S = 584
PYTHON_WITHOUT_TORCH = ROOT / ".venv-bpy53" / "bin" / "python"

# The add-on's Generate as the panel runs it, synchronously (bpy has no event loop here): the
# extension registered, the music file, the procedural conductor, a created conductor.
ADDON_GENERATE = """
import runpy, sys
import bpy
root, music = sys.argv[1], sys.argv[2]
addon = runpy.run_path(root + "/addon/headless_main.py")["import_extension"]("addon")
bpy.ops.wm.read_homefile(use_empty=True)
addon.register()
settings = bpy.context.scene.virtual_conductor
settings.music_path, settings.weights, settings.target = music, "PROCEDURAL", "CREATE"
assert bpy.ops.conductor.generate(synchronous=True) == {"FINISHED"}
print(settings.status)
"""

# What the default path imports before it reads any music.
DEFAULT_IMPORTS = """
import time
started = time.perf_counter()
import core.cli, core.generate, core.audio.decode, core.audio.mel, core.motion.keypoints, core.beats.tracking, core.procedural.conductor
print(time.perf_counter() - started)
"""


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))  # field 4: parent pid
        rss[int(entry)] = int(fields[21])  # field 24: resident pages
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo.extend(children.get(current, []))
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_measured(command: list[str], label: str, *, sample_memory: bool = True) -> tuple[float, float]:
    """(wall seconds, peak MB of the process tree, 0 unless ``sample_memory``); exits with the
    command's stderr if it fails. The sampler reads /proc every 20 ms, 8 % of a core here: the
    speed comparisons, which need no memory figure, run without it."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    if sample_memory:
        sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    if sample_memory:
        sampler.join()
    if process.returncode != 0:
        sys.exit(f"{label} failed (exit {process.returncode}):\n{stderr[-3000:]}{stdout[-1000:]}")
    return seconds, peak[0]


def write_piece(folder: Path, seconds: float) -> Path:
    import numpy as np
    import soundfile

    from core.audio.decode import SAMPLE_RATE_HZ, load_audio

    path = folder / f"piece_{seconds:g}s.flac"
    demo = load_audio(ROOT / "core" / "assets" / "demo_piece.ogg")
    count = int(seconds * SAMPLE_RATE_HZ)
    repeats = -(-count // demo.shape[0])
    samples = np.concatenate([demo if i % 2 == 0 else demo[::-1] for i in range(repeats)])[:count]
    soundfile.write(str(path), samples, SAMPLE_RATE_HZ)
    return path


def network_weights() -> str:
    return str(PARITY_GENERATOR) if PARITY_GENERATOR.is_file() else "neural"


def no_torch_label(python: str) -> str:
    """How the tables name a Python without PyTorch: by its environment's folder."""
    return f"no torch ({Path(python).parent.parent.name})"


def paths_for(music: Path, work: Path, without_torch: Sequence[str] = ()) -> list[tuple[str, list[str]]]:
    blend = work / f"{music.stem}.blend"
    network = ["--weights", network_weights(), "--device", "cpu"]
    no_torch = [
        (
            f"core: network, {no_torch_label(python)}",
            [python, "-m", "core", "generate", str(music), "-o", str(work / f"nt{index}.npz"), *network],
        )
        for index, python in enumerate(without_torch)
    ]
    return [
        (
            "core: procedural",
            [
                sys.executable,
                "-m",
                "core",
                "generate",
                str(music),
                "-o",
                str(work / "p.npz"),
                "--weights",
                "procedural",
            ],
        ),
        (
            "core: network",
            [
                sys.executable,
                "-m",
                "core",
                "generate",
                str(music),
                "-o",
                str(work / "n.npz"),
                *network,
            ],
        ),
        *no_torch,
        ("headless generate", [*HEADLESS, "generate", str(music), "-o", str(blend)]),
        ("batch (one file)", [*HEADLESS, "batch", str(music), "-o", str(work / "batch"), "--force"]),
        (
            "render first frame",
            [
                *HEADLESS,
                "render",
                str(blend),
                "-o",
                str(work / "first.png"),
                "--frame",
                "1",
                "--resolution",
                "64x64",
                "--samples",
                "1",
                "--no-denoise",
            ],
        ),
        ("export .npz", [*HEADLESS, "export", str(blend), "-o", str(work / "x.npz")]),
        ("add-on Generate", [sys.executable, "-c", ADDON_GENERATE, str(ROOT), str(music)]),
    ]


def lengths_table(
    minutes: list[float], folder: Path, without_torch: Sequence[str]
) -> dict[tuple[str, float], tuple[float, float]]:
    results: dict[tuple[str, float], tuple[float, float]] = {}
    for length in minutes:
        music = write_piece(folder, length * 60)
        work = folder / f"work_{length:g}"
        work.mkdir()
        for label, command in paths_for(music, work, without_torch):
            results[(label, length)] = run_measured(command, f"{label} on {length:g} min")
            seconds, peak = results[(label, length)]
            print(
                f"  {label:<36} {length:>6g} min {seconds:8.1f} s {seconds / length:8.2f} s/min {peak:8.0f} MB",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--with-120", action="store_true", help="also the 2-hour concert (minutes of work)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each speed comparison (median)")
    parser.add_argument(
        "--python-without-torch",
        action="append",
        help="a Python without PyTorch (with NumPy, soundfile, soxr, safetensors and ONNX Runtime) for the "
        "network path as Blender's users run it; repeatable (default: the Blender 5.3 test environment)",
    )
    args = parser.parse_args()
    given = args.python_without_torch or [str(PYTHON_WITHOUT_TORCH)]
    without_torch = [python for python in given if runs_without_torch(python)]
    minutes = args.minutes + ([120.0] if args.with_120 else [])
    # As a user's Python runs the project after its first run: byte-compiled. Where
    # PYTHONDONTWRITEBYTECODE is set (as on the development machine) every process would
    # otherwise compile core/ and addon/ from source again (0.05 s of each start-up).
    compileall.compile_dir(str(ROOT / "core"), quiet=1)
    compileall.compile_dir(str(ROOT / "addon"), quiet=1)

    with tempfile.TemporaryDirectory(prefix="vc_lengths_") as name:
        folder = Path(name)
        print(f"paths (network weights: {Path(network_weights()).name}), whole process:")
        for python in given:
            print(
                f"  ({no_torch_label(python)}: {python if python in without_torch else 'not a Python without PyTorch that runs core, skipped'})"
            )
        results = lengths_table(minutes, folder, without_torch)

        print("\ngoals:")
        if 10.0 in minutes:
            seconds = results[("headless generate", 10.0)][0]
            print(
                f"  headless generate, 10 min, procedural: {seconds:.1f} s "
                f"(goal < {GOAL_HEADLESS_10MIN_S:g} s: ratio {GOAL_HEADLESS_10MIN_S / seconds:.2f})"
            )
        if 120.0 in minutes:
            labels = [label for label, _ in paths_for(Path("x"), Path("y"), without_torch)]
            worst_s = max(results[(label, 120.0)][0] for label in labels)
            worst_mb = max(results[(label, 120.0)][1] for label in labels)
            print(
                f"  2-hour piece, slowest path {worst_s:.1f} s (goal < {GOAL_2H_S:g} s: ratio {GOAL_2H_S / worst_s:.2f}), "
                f"largest peak {worst_mb:.0f} MB (goal < {GOAL_2H_PEAK_MB:g} MB: ratio {GOAL_2H_PEAK_MB / worst_mb:.2f})"
            )

        imports = [
            float(
                subprocess.run(
                    [sys.executable, "-c", DEFAULT_IMPORTS], cwd=ROOT, capture_output=True, text=True, check=True
                ).stdout
            )
            for _ in range(args.repeat)
        ]
        import_s = statistics.median(imports)
        print(
            f"  default path's imports: {import_s:.2f} s (goal < {GOAL_IMPORT_S:g} s: ratio {GOAL_IMPORT_S / import_s:.2f})"
        )

        if not PARITY_GENERATOR.is_file():
            print("  speed against the reference: skipped (it needs the official weights in ../shared/parity)")
            return
        music = write_piece(folder, REFERENCE_PIECE_S)
        work = folder / "reference"
        work.mkdir()
        official = ["--weights", str(PARITY_GENERATOR)]
        ours: dict[str, tuple[str, list[str]]] = {  # (the Python that runs it, its flags)
            "procedural": (sys.executable, ["--weights", "procedural"]),
            "network": (sys.executable, official),
            "network, --runtime torch": (sys.executable, [*official, "--runtime", "torch"]),
        }
        for python in without_torch:
            ours[f"network, {no_torch_label(python)}"] = (python, official)
        bf16_note = bf16_unavailable()
        if bf16_note is None:
            ours["network, bf16"] = (sys.executable, [*official, "--precision", "bf16"])
        runs: dict[str, list[float]] = {"reference": [], **{kind: [] for kind in ours}}
        outputs = {kind: work / f"run{index}.npz" for index, kind in enumerate(ours)}
        for _ in range(args.repeat):  # interleaved, so a busy moment hits all of them alike
            reference_command = [
                sys.executable,
                str(ROOT / "bench" / "reference_pipeline.py"),
                str(music),
                str(PARITY_GENERATOR),
                str(work / "r.npy"),
            ]
            runs["reference"].append(run_measured(reference_command, "reference", sample_memory=False)[0])
            for kind, (python, flags) in ours.items():
                command = [python, "-m", "core", "generate", str(music), "-o", str(outputs[kind]), *flags]
                runs[kind].append(run_measured([*command, "--device", "cpu"], kind, sample_memory=False)[0])
        reference = statistics.median(runs["reference"])
        goals = {
            "procedural": GOAL_PROCEDURAL_SPEEDUP,
            "network": GOAL_NETWORK_SPEEDUP,
            "network, --runtime torch": GOAL_NETWORK_SPEEDUP,
            **{f"network, {no_torch_label(python)}": GOAL_NETWORK_SPEEDUP_WITHOUT_TORCH for python in without_torch},
        }
        for kind in ours:
            seconds = statistics.median(runs[kind])
            speedup = reference / seconds
            goal = f"goal {goals[kind]:g}x: ratio {speedup / goals[kind]:.2f}" if kind in goals else "opt-in, no goal"
            print(
                f"  {REFERENCE_PIECE_S}-s piece, {kind}: {seconds:.2f} s against the reference's {reference:.2f} s: "
                f"{speedup:.1f}x faster ({goal}; runs {', '.join(f'{t:.2f}' for t in runs[kind])})"
            )
        print(f"  (the reference's runs: {', '.join(f'{t:.2f}' for t in runs['reference'])})")
        report_runtimes(outputs)
        if bf16_note is not None:
            print(f"  {REFERENCE_PIECE_S}-s piece, network, bf16: skipped ({bf16_note})")
        else:
            import numpy as np

            # The same seed (0) both ways, both on PyTorch: what bfloat16 moves the keypoints by, in image units.
            float32 = np.load(outputs["network, --runtime torch"])["keypoints"]
            error = np.abs(np.load(outputs["network, bf16"])["keypoints"] - float32)
            print(
                f"  bf16 against float32: keypoints differ by {error.mean():.4f} on average, "
                f"{np.percentile(error, 99):.3f} at the 99th percentile, {error.max():.3f} at most"
            )


def runs_without_torch(given: str) -> bool:
    """Whether ``given`` is a Python that runs the project's core without PyTorch (else its runs
    are skipped, saying so)."""
    check = "import importlib.util, sys; import core.neural.runtimes; sys.exit(importlib.util.find_spec('torch') is not None)"
    try:
        done = subprocess.run([given, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60)
    except OSError:
        return False
    return done.returncode == 0


def report_runtimes(outputs: dict[str, Path]) -> None:
    """Which runtime each network run recorded (its motion's extra), and how far the runtimes'
    keypoints are from the PyTorch path's (the same seed)."""
    import json

    import numpy as np

    reference = outputs.get("network, --runtime torch")
    for kind, path in outputs.items():
        if not kind.startswith("network") or not path.is_file():
            continue
        with np.load(path) as archive:
            extra = json.loads(str(archive["metadata_json"]))["extra"]
            keypoints = archive["keypoints"]
        line = f"  {kind}: ran on {extra.get('runtime')} {extra.get('runtime_version')}"
        if reference is not None and reference.is_file() and path != reference and "bf16" not in kind:
            with np.load(reference) as archive:
                line += f", keypoints within {np.abs(keypoints - archive['keypoints']).max():.1e} of PyTorch's"
        print(line)


def bf16_unavailable() -> str | None:
    """Why this machine's CPU cannot run the network in bf16, or None where it can."""
    import torch

    from core.neural.precision import bf16_refusal

    return bf16_refusal(torch.device("cpu"))


if __name__ == "__main__":
    main()
