"""Any-length generation: windows equal a single pass, seeds, noise files, variation, short pieces."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import GenerationCancelled, ConductorError
from core.neural.inference import check_noise, generate_keypoints, make_noise

from conftest import bf16_refusal, cpu_has_bf16


@pytest.fixture(scope="module")
def long_mel(golden):
    # 130 s of real music features: the golden 40 s, repeated and reversed in time so no two
    # windows see the same input.
    mel = golden["mel"]
    return np.concatenate([mel, mel[::-1], mel, mel[:900]])


def test_golden_noise_reproduces_golden_motion(official_generator, golden):
    keypoints = generate_keypoints(official_generator, golden["mel"], golden["noise"])
    assert keypoints.shape == (1200, 13, 2)
    assert np.abs(keypoints - golden["motion"][0]).max() < 1e-4


@pytest.mark.slow  # generating a Rigify rig / ten minutes of network passes
def test_windows_equal_a_single_pass(official_generator, long_mel):
    noise = make_noise(130, seed=11)
    single = generate_keypoints(official_generator, long_mel, noise, window_s=1000)
    windowed = generate_keypoints(official_generator, long_mel, noise, window_s=40, context_s=10)
    assert single.shape == windowed.shape == (3900, 13, 2)
    assert np.abs(single - windowed).max() < 1e-5
    # continuous across the window edges at 40, 80 and 120 s: no jump larger than the motion's
    # own largest frame-to-frame step elsewhere
    steps = np.abs(np.diff(windowed, axis=0)).max(axis=(1, 2))
    edges = [40 * 30 - 1, 80 * 30 - 1, 120 * 30 - 1]
    assert steps[edges].max() <= np.delete(steps, edges).max()


@pytest.mark.slow
def test_partial_last_second_is_kept(official_generator, golden):
    mel = golden["mel"][: 3600 - 50]  # 39.44 s
    keypoints = generate_keypoints(official_generator, mel, make_noise(40, seed=0))
    assert keypoints.shape[0] == (mel.shape[0] - 1) // 3 + 1
    assert np.all(np.isfinite(keypoints))


def test_one_second_piece(official_generator, golden):
    keypoints = generate_keypoints(official_generator, golden["mel"][:90], make_noise(1, seed=0))
    assert keypoints.shape == (30, 13, 2)
    assert np.all((keypoints >= 0) & (keypoints <= 1))


def test_seed_and_prefix_stability():
    assert np.array_equal(make_noise(5, seed=3), make_noise(5, seed=3))
    assert not np.array_equal(make_noise(5, seed=3), make_noise(5, seed=4))
    assert np.array_equal(make_noise(9, seed=3)[:5], make_noise(5, seed=3))


@pytest.mark.slow
def test_variation_zero_ignores_the_noise(official_generator, golden):
    mel = golden["mel"][:900]
    a = generate_keypoints(official_generator, mel, make_noise(10, seed=1), variation=0.0)
    b = generate_keypoints(official_generator, mel, make_noise(10, seed=2), variation=0.0)
    c = generate_keypoints(official_generator, mel, make_noise(10, seed=2), variation=1.0)
    assert np.array_equal(a, b)
    assert not np.allclose(b, c)


def test_noise_shapes():
    assert check_noise(np.zeros((1, 7, 8)), 5).shape == (5, 8)
    with pytest.raises(ConductorError, match="covers 3 s"):
        check_noise(np.zeros((3, 8)), 5)
    with pytest.raises(ConductorError, match="shaped"):
        check_noise(np.zeros((5, 7)), 5)


@pytest.mark.slow
def test_progress_and_cancel(official_generator, long_mel):
    seen = []
    generate_keypoints(
        official_generator,
        long_mel,
        make_noise(130, seed=0),
        window_s=50,
        progress=lambda fraction, message: seen.append(fraction),
    )
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 3
    with pytest.raises(GenerationCancelled):
        generate_keypoints(official_generator, long_mel, make_noise(130, seed=0), should_cancel=lambda: True)


@pytest.mark.slow
def test_the_fused_conv_relu_gives_the_same_motion(official_generator, golden, monkeypatch):
    """oneDNN's one-pass convolution and ReLU (when this PyTorch has it) changes nothing: the
    motion equals the two-pass one bit for bit."""
    from core.neural import fusion

    if fusion.FUSED_CONV_RELU is None:
        pytest.skip("this PyTorch build has no oneDNN pointwise convolution")
    fused = generate_keypoints(official_generator, golden["mel"], golden["noise"])
    monkeypatch.setattr(fusion, "FUSED_CONV_RELU", None)
    np.testing.assert_array_equal(generate_keypoints(official_generator, golden["mel"], golden["noise"]), fused)


def test_bf16_keeps_the_motion_within_a_few_thousandths_of_float32(official_generator, golden):
    """--precision bf16 (the fused music encoder in bfloat16) changes the keypoints by a few
    thousandths on average, never by more than a few hundredths."""
    refusal = bf16_refusal()
    if refusal is not None:
        pytest.skip(f"bf16 is refused here (tested below): {refusal}")
    exact = generate_keypoints(official_generator, golden["mel"], golden["noise"])
    halved = generate_keypoints(official_generator, golden["mel"], golden["noise"], precision="bf16")
    assert halved.dtype == np.float32 and halved.shape == exact.shape
    error = np.abs(halved - exact)
    assert 0 < error.mean() < 0.003 and error.max() < 0.05, (error.mean(), error.max())


def test_bf16_is_allowed_exactly_where_the_cpu_computes_it():
    import torch

    from core.neural.precision import check_precision

    from core.neural.precision import onednn_runs_bf16

    check_precision("float32", torch.device("cpu"))
    if cpu_has_bf16() and onednn_runs_bf16():
        check_precision("bf16", torch.device("cpu"))
    elif cpu_has_bf16():
        with pytest.raises(ConductorError, match="oneDNN is kept from it"):
            check_precision("bf16", torch.device("cpu"))
    else:
        with pytest.raises(ConductorError, match="would emulate it, slower than float32"):
            check_precision("bf16", torch.device("cpu"))
    with pytest.raises(ConductorError, match="Precision must be one of float32, bf16"):
        check_precision("fp8", torch.device("cpu"))


def test_the_plain_network_refuses_bf16_in_a_sentence(official_generator, golden):
    with pytest.raises(ConductorError, match="The plain network runs in float32 only"):
        generate_keypoints(official_generator, golden["mel"], golden["noise"], precision="bf16", fused=False)
