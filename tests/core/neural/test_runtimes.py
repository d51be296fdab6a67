"""The generator without PyTorch: NumPy and ONNX Runtime (core/neural/numpy_generator.py,
ort_generator.py) against the official golden outputs and against the PyTorch network, the one
window loop over any length, the choice of runtime, and a real interpreter without PyTorch.

The ONNX Runtime tests use the onnxruntime installed here (the extension bundles it); the
comparisons with the PyTorch network need PyTorch; the parity files sit in ../shared/parity."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import DEMO_PIECE, GOLDEN_AUDIO, OFFICIAL_GENERATOR, PROJECT_ROOT
from core.errors import ConductorError, GenerationCancelled, MissingPackage
from core.neural.architecture import generator_state_shapes
from core.neural.inference import generate_keypoints, make_noise
from core.neural.numpy_generator import NumpyGenerator
from core.neural.runtimes import NUMPY, ONNXRUNTIME, TORCH, choose_runtime, open_generator
from core.neural.weights import GENERATOR, load_weights

TORCH_TOLERANCE = 1e-5  # against the PyTorch network, on the same input
GOLDEN_TOLERANCE = 1e-4  # against the official code's outputs


@pytest.fixture(scope="module")
def official_state(parity_dir) -> dict[str, np.ndarray]:
    weights = load_weights(OFFICIAL_GENERATOR, GENERATOR)
    assert weights.weights_id == "M2SGAN_official_pretrained" and weights.card == {}
    return weights.state


@pytest.fixture(scope="module")
def numpy_net(official_state):
    return NumpyGenerator(official_state)


@pytest.fixture(scope="module")
def ort_net(official_state):
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed in this environment")
    from core.neural.ort_generator import OrtGenerator

    return OrtGenerator(official_state)


@pytest.fixture(scope="module", params=[NUMPY, ONNXRUNTIME])
def net(request):
    return request.getfixturevalue("numpy_net" if request.param == NUMPY else "ort_net")


@pytest.fixture(scope="module")
def long_mel(golden):
    mel = golden["mel"]  # 130 s of real music features, no two windows alike
    return np.concatenate([mel, mel[::-1], mel, mel[:900]])


def test_the_weights_table_is_the_torch_generators():
    networks = pytest.importorskip("core.neural.networks", reason="the PyTorch network needs PyTorch")
    state = networks.MotionGenerator().state_dict()
    assert list(generator_state_shapes().items()) == [(key, tuple(value.shape)) for key, value in state.items()]


def test_golden_music_features_and_motion(net, golden):
    features = net.encode_music(golden["mel"])
    assert np.abs(features - golden["music_features"][0]).max() < GOLDEN_TOLERANCE
    for noise, motion in (("noise", "motion"), ("noise2", "motion2")):
        keypoints = generate_keypoints(net, golden["mel"], golden[noise])
        assert keypoints.shape == (1200, 13, 2) and keypoints.dtype == np.float32
        assert np.abs(keypoints - golden[motion][0]).max() < GOLDEN_TOLERANCE


@pytest.mark.parametrize("music", ["parity", "demo"])
def test_equal_to_the_torch_network(net, official_generator, golden, music):
    """On the parity recording and on another one (the demo piece): the torch-free keypoints
    equal the PyTorch network's, through the same window loop."""
    from core.audio.decode import load_audio
    from core.audio.mel import mel_90hz

    mel = golden["mel"] if music == "parity" else mel_90hz(load_audio(DEMO_PIECE))
    noise = make_noise(int(np.ceil(mel.shape[0] / 90)), seed=5)
    expected = generate_keypoints(official_generator, mel, noise)
    ours = generate_keypoints(net, mel, noise)
    assert ours.shape == expected.shape
    assert np.abs(ours - expected).max() < TORCH_TOLERANCE


@pytest.mark.slow
def test_windows_equal_a_single_pass_and_the_seams_are_invisible(net, long_mel):
    noise = make_noise(130, seed=11)
    single = generate_keypoints(net, long_mel, noise, window_s=1000)
    windowed = generate_keypoints(net, long_mel, noise, window_s=40, context_s=10)
    assert single.shape == windowed.shape == (3900, 13, 2)
    assert np.abs(single - windowed).max() < TORCH_TOLERANCE
    steps = np.abs(np.diff(windowed, axis=0)).max(axis=(1, 2))
    edges = [40 * 30 - 1, 80 * 30 - 1, 120 * 30 - 1]
    assert steps[edges].max() <= np.delete(steps, edges).max()


def test_encoder_chunks_equal_one_pass(net, long_mel):
    mel = long_mel[:4001]
    one_pass = net.encode_music_pass(mel)
    chunked = net.encode_music(mel)
    assert chunked.shape == one_pass.shape == (1334, 64)
    assert np.abs(chunked - one_pass).max() < TORCH_TOLERANCE


def test_threads_do_not_change_the_result(official_state, long_mel):
    mel = long_mel[:3000]
    one = NumpyGenerator(official_state, workers=1).encode_music(mel)
    two = NumpyGenerator(official_state, workers=2).encode_music(mel)
    np.testing.assert_array_equal(one, two)


def test_short_pieces_partial_seconds_and_variation(net, golden):
    keypoints = generate_keypoints(net, golden["mel"][:90], make_noise(1, seed=0))
    assert keypoints.shape == (30, 13, 2) and np.all((keypoints >= 0) & (keypoints <= 1))
    mel = golden["mel"][: 3600 - 50]  # 39.44 s
    assert generate_keypoints(net, mel, make_noise(40, seed=0)).shape == ((mel.shape[0] - 1) // 3 + 1, 13, 2)
    a = generate_keypoints(net, golden["mel"][:900], make_noise(10, seed=1), variation=0.0)
    b = generate_keypoints(net, golden["mel"][:900], make_noise(10, seed=2), variation=0.0)
    c = generate_keypoints(net, golden["mel"][:900], make_noise(10, seed=2), variation=1.0)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(b, c)


def test_progress_and_cancel(numpy_net, long_mel):
    seen = []
    noise = make_noise(130, seed=0)
    generate_keypoints(numpy_net, long_mel, noise, window_s=50, progress=lambda fraction, _: seen.append(fraction))
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 3
    with pytest.raises(GenerationCancelled):
        generate_keypoints(numpy_net, long_mel, noise, should_cancel=lambda: True)
    with pytest.raises(ConductorError, match="settings of a PyTorch network"):
        generate_keypoints(numpy_net, long_mel, noise, precision="bf16")


def test_our_own_weights_equal_the_torch_network(official_generator, golden):
    """``neural`` (our .safetensors with its model card): the same weights, the same motion."""
    from core.installed_weights import neural_weights_path
    from core.neural.weights import load_model

    path = neural_weights_path()
    if not path.is_file():
        pytest.skip("the project's own weights are not in this checkout")
    weights = load_weights(path, GENERATOR)
    assert weights.weights_id == weights.card["id"]
    expected = generate_keypoints(load_model(path, GENERATOR).model, golden["mel"], golden["noise"])
    for forward in (NumpyGenerator(weights.state), open_generator(path).forward):
        assert np.abs(generate_keypoints(forward, golden["mel"], golden["noise"]) - expected).max() < TORCH_TOLERANCE


# ----------------------------------------------------------------------------- choosing
def test_the_cpu_runs_onnx_runtime_where_it_imports_else_numpy(monkeypatch):
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed in this environment")
    assert choose_runtime() == choose_runtime(device="cpu") == ONNXRUNTIME
    assert choose_runtime(runtime="numpy") == NUMPY
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as where its wheel cannot load: the import fails
    assert choose_runtime() == NUMPY
    with pytest.raises(MissingPackage, match="ONNX Runtime is not installed here or cannot load"):
        choose_runtime(runtime="onnxruntime")


def test_gpus_and_bf16_run_on_torch_and_the_cpu_runtimes_refuse_them():
    pytest.importorskip("torch", reason="this checks the choice where PyTorch is installed")
    assert choose_runtime(device="cuda") == choose_runtime(device="mps") == TORCH
    assert choose_runtime(precision="bf16") == choose_runtime(runtime="torch") == TORCH
    with pytest.raises(ConductorError, match="NumPy runs the network on the CPU; drop --runtime numpy"):
        choose_runtime(device="cuda", runtime="numpy")
    with pytest.raises(ConductorError, match="ONNX Runtime runs the network in float32; bf16 runs on PyTorch"):
        choose_runtime(precision="bf16", runtime="onnxruntime")
    with pytest.raises(ConductorError, match="The runtime must be one of auto, onnxruntime, numpy, torch"):
        choose_runtime(runtime="tensorflow")


def test_the_torch_runtime_is_bit_equal_to_the_plain_torch_path(official_generator, golden):
    """--runtime torch runs what the network path ran before the torch-free runtimes: the same bits."""
    opened = open_generator(OFFICIAL_GENERATOR, device="cpu", runtime="torch")
    assert (opened.runtime, opened.device) == (TORCH, "cpu")
    np.testing.assert_array_equal(
        generate_keypoints(opened.forward, golden["mel"], golden["noise"]),
        generate_keypoints(official_generator, golden["mel"], golden["noise"]),
    )


@pytest.mark.slow
def test_every_control_gives_the_same_motion_on_every_runtime(parity_dir, tmp_path):
    """Seed, variation, a beat grid with beat lock: generate_motion on ONNX Runtime and NumPy
    gives the torch path's motion, and the motion records which runtime ran."""
    pytest.importorskip("torch", reason="the reference is the PyTorch path")
    from core.generate import generate_motion
    from core.generate_options import GenerateOptions

    grid = tmp_path / "grid.txt"
    grid.write_text("".join(f"{0.5 + 0.45 * i:.3f}\t{i // 3 + 1}.{i % 3 + 1}\n" for i in range(80)))
    settings = {"weights": str(OFFICIAL_GENERATOR), "seed": 7, "variation": 0.6, "beats_path": str(grid)}
    motions = {
        runtime: generate_motion(GOLDEN_AUDIO, GenerateOptions(runtime=runtime, **settings))
        for runtime in (TORCH, ONNXRUNTIME, NUMPY)
    }
    reference = motions[TORCH]
    for runtime, motion in motions.items():
        assert motion.extra["runtime"] == runtime and motion.extra["device"] == "cpu"
        assert motion.seed == 7 and motion.extra["variation"] == 0.6
        assert motion.extra["beat_lock"] == reference.extra["beat_lock"]
        assert np.abs(motion.keypoints - reference.keypoints).max() < 1e-4, runtime


# ----------------------------------------------------------------------------- without PyTorch
@pytest.fixture(scope="module")
def python_without_torch(tmp_path_factory) -> Path:
    """A real interpreter without PyTorch: ``python -S`` sees every package of this environment
    except torch (linked into a folder of their own)."""
    folder = tmp_path_factory.mktemp("no_torch")
    site = Path(np.__file__).resolve().parent.parent
    packages = folder / "site-packages"
    packages.mkdir()
    for entry in site.iterdir():
        if not entry.name.lower().startswith(("torch", "functorch", "__pycache__", "__editable__")):
            (packages / entry.name).symlink_to(entry)
    python = folder / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH="{PROJECT_ROOT}:{packages}" exec "{sys.executable}" -S "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    assert subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode != 0
    return python


def core_cli(python: Path, *arguments: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", "core", *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
    )


@pytest.mark.slow
def test_the_official_checkpoint_runs_without_pytorch(python_without_torch, parity_dir, tmp_path):
    output = tmp_path / "motion.npz"
    done = core_cli(python_without_torch, "generate", GOLDEN_AUDIO, "-o", output, "--weights", OFFICIAL_GENERATOR)
    assert done.returncode == 0, done.stderr
    with np.load(output) as archive:
        extra = json.loads(str(archive["metadata_json"]))["extra"]
        keypoints = archive["keypoints"]
    assert extra["runtime"] in (ONNXRUNTIME, NUMPY) and extra["device"] == "cpu"
    golden_free = generate_keypoints(NumpyGenerator(load_weights(OFFICIAL_GENERATOR, GENERATOR).state), *_music())
    assert np.abs(keypoints - golden_free).max() < TORCH_TOLERANCE


def _music() -> tuple[np.ndarray, np.ndarray]:
    """The parity recording's mel and the noise of seed 0, as ``generate`` computes them."""
    from core.audio.decode import load_audio
    from core.audio.mel import mel_90hz

    mel = mel_90hz(load_audio(GOLDEN_AUDIO))
    return mel, make_noise(int(np.ceil(mel.shape[0] / 90)), seed=0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags, sentence",
    [
        (["--device", "cuda"], "--device cuda needs PyTorch, which this Python does not have; install it"),
        (["--device", "mps"], "--device mps needs PyTorch"),
        (["--precision", "bf16"], "--precision bf16 needs PyTorch, which this Python does not have"),
        (["--runtime", "torch"], "--runtime torch needs PyTorch"),
    ],
)
def test_what_needs_pytorch_says_so_in_one_sentence_without_it(
    python_without_torch, parity_dir, tmp_path, flags, sentence
):
    output = tmp_path / "motion.npz"
    done = core_cli(
        python_without_torch, "generate", GOLDEN_AUDIO, "-o", output, "--weights", OFFICIAL_GENERATOR, *flags
    )
    assert done.returncode == 1 and done.stderr.startswith(f"error: {sentence}"), done.stderr
    assert done.stderr.count("\n") == 1 and not output.exists()


@pytest.mark.slow
def test_bad_weights_are_one_sentence_without_pytorch(python_without_torch, parity_dir, tmp_path):
    """Without PyTorch as with it: a truncated file, a pickle that would run code, the M2S-Net
    checkpoint given as the generator and NaN weights are each one sentence; nothing is executed
    and nothing is written."""
    import pickle
    import zipfile

    from safetensors.numpy import save_file

    marker = tmp_path / "ran"
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(OFFICIAL_GENERATOR.read_bytes()[:100_000])
    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"noise_upsampler.0.weight": RunsCode(marker)}, protocol=2))
    state = {key: value.copy() for key, value in load_weights(OFFICIAL_GENERATOR, GENERATOR).state.items()}
    state["head.4.bias"][3] = np.nan
    nan = tmp_path / "nan.safetensors"
    save_file(state, str(nan))
    cases = {
        truncated: "Weights file 'cut.pt' is truncated or not a PyTorch checkpoint; download it again.",
        evil: "'evil.pt' contains code or objects, not just weights (it names ",  # os.system, never called
        parity_dir
        / "M2SNet_official_pretrained.pt": "'M2SNet_official_pretrained.pt' holds m2snet weights, but m2sgan-generator",
        nan: "'nan.safetensors' contains NaN or infinite values in 'head.4.bias'",
    }
    for weights, sentence in cases.items():
        output = tmp_path / "motion.npz"
        done = core_cli(python_without_torch, "generate", GOLDEN_AUDIO, "-o", output, "--weights", weights)
        assert done.returncode == 1 and done.stderr.startswith(f"error: {sentence}"), done.stderr
        assert done.stderr.count("\n") == 1 and not output.exists() and not marker.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cut.pt", "evil.pt", "nan.safetensors"]


class RunsCode:
    """Pickles as a call of os.system that would leave a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))
