"""Fingerprints of the motion every path makes on three real pieces, to prove that a change which
should not alter behaviour (a restructuring, a speed-up) leaves the motion bit for bit as it was.

``python tests/motion_fingerprints.py record`` writes ``tests/data/motion_fingerprints.json``;
``tests/core/test_motion_unchanged.py`` recomputes each case and compares. A fingerprint is the
SHA-256 of the float32 keypoints (bit-equality) with a strided sample of the values, so that on
a CPU whose kernels sum in another order (oneDNN's AVX-512 against AVX2, NumPy's SIMD dispatch)
the test can still say how far apart the two are. Re-record only with a change that is meant
to move the figure, and say so in its commit. ``python tests/motion_fingerprints.py record CASE...``
records only the cases named (a new case), keeping the others as they were recorded.

The cases: the demo piece, the parity recording and a 10-minute piece (the demo forward and
reversed, as bench/lengths.py builds it), each conducted procedurally (tracked beats and a given
beat grid) and with the official checkpoint (free, and beat-locked to the grid), plus the beat
tracker's grid itself and the F-Curves that headless ``generate`` keys from the demo piece.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RECORD = ROOT / "tests" / "data" / "motion_fingerprints.json"
DEMO_PIECE = ROOT / "core" / "assets" / "demo_piece.ogg"
PARITY_DIR = ROOT.parent / "shared" / "parity"
PARITY_AUDIO = PARITY_DIR / "beethoven_op18no1_40s.flac"
OFFICIAL_GENERATOR = PARITY_DIR / "M2SGAN_official_pretrained.pt"
LONG_PIECE_S = 600.0
SAMPLES_KEPT = 512  # values of the strided sample, for a distance where the bits differ

PIECES = ("demo", "parity", "ten_minutes")
CASES = {
    # name: (needs the official checkpoint, options given to GenerateOptions, with a grid file).
    # The official network on PyTorch (bit-equal to the path before the torch-free runtimes) and on
    # ONNX Runtime (the default on the CPU since then; its bits depend on its version too).
    "procedural": (False, {"weights": "procedural"}, False),
    "procedural_grid": (False, {"weights": "procedural"}, True),
    "official": (True, {"weights": str(OFFICIAL_GENERATOR), "runtime": "torch"}, False),
    "official_grid_locked": (True, {"weights": str(OFFICIAL_GENERATOR), "runtime": "torch"}, True),
    "official_onnxruntime": (True, {"weights": str(OFFICIAL_GENERATOR), "runtime": "onnxruntime"}, False),
}


def piece_path(piece: str, folder: Path) -> Path:
    """The music file of ``piece``; the 10-minute piece is written into ``folder``."""
    if piece == "demo":
        return DEMO_PIECE
    if piece == "parity":
        return PARITY_AUDIO
    path = folder / "ten_minutes.flac"
    if not path.is_file():
        import soundfile

        from core.audio.decode import SAMPLE_RATE_HZ, load_audio

        demo = load_audio(DEMO_PIECE)
        count = int(LONG_PIECE_S * SAMPLE_RATE_HZ)
        repeats = -(-count // demo.shape[0])
        samples = np.concatenate([demo if i % 2 == 0 else demo[::-1] for i in range(repeats)])[:count]
        soundfile.write(str(path), samples, SAMPLE_RATE_HZ)
    return path


def grid_file(music: Path, folder: Path) -> Path:
    """A hand-written beat grid for ``music``: 96 a minute in 4, with a bar of 3 every fifth bar
    and a held beat (a gap of three beats) every ninth bar, labelled bar.beat."""
    import soundfile

    duration_s = soundfile.info(str(music)).duration
    lines, time_s, bar = [], 0.4, 1
    while True:
        meter = 3 if bar % 5 == 0 else 4
        for beat in range(1, meter + 1):
            if time_s >= duration_s - 0.5:
                path = folder / f"{music.stem}_grid.txt"
                path.write_text("\n".join(lines) + "\n")
                return path
            lines.append(f"{time_s:.3f}\t{bar}.{beat}")
            time_s += 0.625 * (3 if bar % 9 == 0 and beat == meter else 1)
        bar += 1


def fingerprint(values: np.ndarray) -> dict:
    values = np.ascontiguousarray(values)
    flat = values.reshape(-1)
    step = max(1, flat.size // SAMPLES_KEPT)
    return {
        "shape": list(values.shape),
        "dtype": str(values.dtype),
        "sha256": hashlib.sha256(values.tobytes()).hexdigest(),
        "sample": [float(v) for v in flat[::step][:SAMPLES_KEPT]],
    }


def motion_case(piece: str, case: str, folder: Path) -> dict:
    from core.generate import generate_motion
    from core.generate_options import GenerateOptions

    _, options, with_grid = CASES[case]
    music = piece_path(piece, folder)
    given = dict(options)
    if with_grid:
        given["beats_path"] = str(grid_file(music, folder))
    motion = generate_motion(music, GenerateOptions(**given))
    return fingerprint(motion.keypoints)


def beats_case(piece: str, folder: Path) -> dict:
    """The default tracker's grid: every array of its BeatTrack, end to end, as float64."""
    from core.audio.decode import load_audio
    from core.beats.tracking import track_beats

    track = track_beats(load_audio(piece_path(piece, folder)))
    arrays = [
        track.beats_s,
        track.downbeats_s,
        track.bar_position,
        track.bar_number,
        track.bar_meters,
        track.tempo_curve_bpm,
        track.notated_beats_s,
        track.held,
        [track.meter, track.tempo_bpm, track.notated_meter, track.compound],
    ]
    result = fingerprint(np.concatenate([np.asarray(array, dtype=np.float64).reshape(-1) for array in arrays]))
    result["level"] = track.level
    return result


def scene_case(folder: Path, python: str) -> dict:
    """The F-Curves headless ``generate`` keys on the demo piece: every key of every curve."""
    import subprocess

    blend = folder / "demo.blend"
    subprocess.run(
        [python, str(ROOT / "addon" / "headless_main.py"), "generate", str(DEMO_PIECE), "-o", str(blend)],
        check=True,
        capture_output=True,
    )
    reader = (
        "import sys, json, bpy, numpy as np\n"
        "bpy.ops.wm.open_mainfile(filepath=sys.argv[1])\n"
        "obj = bpy.data.objects['Conductor']\n"
        "action = obj.animation_data.action\n"
        "curves = []\n"
        "if hasattr(action, 'layers') and len(action.layers):\n"
        "    slot = obj.animation_data.action_slot\n"
        "    bag = action.layers[0].strips[0].channelbag(slot)\n"
        "    curves = list(bag.fcurves)\n"
        "else:\n"
        "    curves = list(action.fcurves)\n"
        "rows = []\n"
        "for c in sorted(curves, key=lambda c: (c.data_path, c.array_index)):\n"
        "    co = np.empty(2 * len(c.keyframe_points), dtype=np.float32)\n"
        "    c.keyframe_points.foreach_get('co', co)\n"
        "    rows.append(co)\n"
        "np.save(sys.argv[2], np.concatenate(rows))\n"
        "json.dump([[c.data_path, c.array_index, len(c.keyframe_points)] for c in "
        "sorted(curves, key=lambda c: (c.data_path, c.array_index))], open(sys.argv[3], 'w'))\n"
    )
    keys, names = folder / "keys.npy", folder / "curves.json"
    subprocess.run([python, "-c", reader, str(blend), str(keys), str(names)], check=True, capture_output=True)
    result = fingerprint(np.load(keys))
    result["curves"] = json.loads(names.read_text())
    return result


def all_cases(folder: Path, python: str, only: set[str] | None = None) -> dict:
    """Every case's fingerprint (``only``: just those motion cases, on every piece)."""
    has_parity = OFFICIAL_GENERATOR.is_file()
    found: dict = {}
    for piece in PIECES:
        if piece == "parity" and not has_parity:
            continue
        if only is None:
            found[f"{piece}/beats"] = beats_case(piece, folder)
        for case, (official, _, _) in CASES.items():
            if (official and not has_parity) or (only is not None and case not in only):
                continue
            found[f"{piece}/{case}"] = motion_case(piece, case, folder)
    if only is None:
        found["demo/scene"] = scene_case(folder, python)
    return found


def runtime_of(case: str) -> str | None:
    """The network runtime a case asks for (None: the procedural conductor)."""
    return CASES[case][1].get("runtime")


def onnxruntime_version() -> str | None:
    """The ONNX Runtime here (its kernels decide the bits of the onnxruntime cases), or None."""
    try:
        import onnxruntime
    except ImportError:
        return None
    return str(onnxruntime.__version__)


def cpu_signature() -> str:
    """What decides the order of the sums: the machine and the CPU's vector extensions."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                wanted = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "avx512_vnni")
                flags = " ".join(flag for flag in line.split(":", 1)[1].split() if flag in wanted)
                break
    except OSError:
        pass
    return f"{platform.machine()} {flags}"


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:2] != ["record"] or set(sys.argv[2:]) - set(CASES):
        sys.exit(f"usage: {sys.argv[0]} record [CASE ...]  (cases: {', '.join(CASES)})")
    only = set(sys.argv[2:]) or None
    with tempfile.TemporaryDirectory() as folder:
        cases = all_cases(Path(folder), sys.executable, only)
    if only is not None:  # the named cases anew, every other as it was recorded
        cases = {**json.loads(RECORD.read_text())["cases"], **cases}
    RECORD.parent.mkdir(exist_ok=True)
    lines = ",\n".join(f"  {json.dumps(name)}: {json.dumps(case)}" for name, case in cases.items())
    header = json.dumps({"cpu": cpu_signature(), "numpy": np.__version__, "onnxruntime": onnxruntime_version()})[:-1]
    RECORD.write_text(f'{header}, "cases": {{\n{lines}\n}}}}\n')
    print(f"recorded {len(cases)} cases in {RECORD.relative_to(ROOT)}")
