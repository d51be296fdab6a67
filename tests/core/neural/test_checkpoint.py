"""The restricted reader of PyTorch checkpoints (core/neural/checkpoint.py): what torch.save writes
reads back bit for bit, and nothing else is ever called: a pickle that would run code, a forged
tensor, a truncated, damaged or foreign file are each one sentence."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import OFFICIAL_GENERATOR, OFFICIAL_M2SNET, OFFICIAL_M2SNET_TEST
from core.errors import ConductorError
from core.neural.checkpoint import read_checkpoint, read_state_dict
from core.neural.weights import GENERATOR, load_weights


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="writing checkpoints with torch.save needs PyTorch")


@pytest.mark.parametrize("path", [OFFICIAL_GENERATOR, OFFICIAL_M2SNET, OFFICIAL_M2SNET_TEST], ids=lambda p: p.name)
def test_official_checkpoints_read_bit_equal_to_torch_load(torch, parity_dir, path):
    ours = read_state_dict(path)
    reference = torch.load(path, map_location="cpu", weights_only=True)
    assert list(ours) == list(reference)
    for key, tensor in reference.items():
        expected = np.array(tensor.numpy(), order="C")
        assert ours[key].dtype == expected.dtype and ours[key].shape == expected.shape, key
        assert ours[key].tobytes() == expected.tobytes(), key


def test_views_offsets_parameters_and_dtypes_read_as_torch_saved_them(torch, tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = {
        "transposed": base.t(),  # strides (1, 6)
        "offset": base[2:, 1:4],  # storage offset 13, shared storage
        "parameter": torch.nn.Parameter(torch.linspace(-1, 1, 5)),
        "half": torch.tensor([0.5, -2.0], dtype=torch.float16),
        "bfloat16": torch.tensor([1.5, -3.25, 1e-3], dtype=torch.bfloat16),
        "double": torch.tensor([1e-300], dtype=torch.float64),
        "long": torch.tensor(7, dtype=torch.int64),
        "bool": torch.tensor([True, False]),
        "int8": torch.tensor([-3, 4], dtype=torch.int8),
        "empty": torch.zeros(0, 3),
    }
    path = tmp_path / "mixed.pt"
    torch.save({"model": state, "epoch": 3, "note": "x"}, path)
    ours = read_checkpoint(path)
    assert ours["epoch"] == 3 and ours["note"] == "x"
    for key, tensor in state.items():
        expected = tensor.detach().float().numpy() if tensor.dtype == torch.bfloat16 else tensor.detach().numpy()
        assert ours["model"][key].dtype == expected.dtype, key
        np.testing.assert_array_equal(ours["model"][key], expected, err_msg=key)
        assert ours["model"][key].flags.c_contiguous and ours["model"][key].flags.writeable  # a copy, not the archive
    assert list(read_state_dict(path)) == list(state)  # a training checkpoint gives its "model"


class RunsCode:
    """Pickles as a call of os.system that would leave a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def zip_checkpoint(path: Path, payload: bytes, folder: str = "archive") -> Path:
    """A torch-style zip archive around ``payload`` as data.pkl (no torch needed)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{folder}/data.pkl", payload)
        archive.writestr(f"{folder}/byteorder", "little")
        archive.writestr(f"{folder}/version", "3\n")
    return path


def expect_refusal(path: Path, *phrases: str) -> str:
    with pytest.raises(ConductorError) as caught:
        load_weights(path, GENERATOR)
    message = str(caught.value)
    assert "\n" not in message and message.endswith("."), message
    for phrase in phrases:
        assert phrase in message, message
    return message


def test_a_pickle_that_would_run_code_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    evil = zip_checkpoint(
        tmp_path / "evil.pt", pickle.dumps({"noise_upsampler.0.weight": RunsCode(marker)}, protocol=2)
    )
    message = expect_refusal(evil, "contains code or objects, not just weights", "system", "evil.pt")
    assert "Error" not in message
    assert not marker.exists()
    # The same object as a plain pickle (no archive) and inside protocol 5: refused, never run.
    raw = tmp_path / "evil_plain.pt"
    raw.write_bytes(pickle.dumps(RunsCode(marker)))
    expect_refusal(raw, "truncated or not a PyTorch checkpoint")
    evil5 = zip_checkpoint(tmp_path / "evil5.pt", pickle.dumps(RunsCode(marker), protocol=5))
    expect_refusal(evil5, "contains code")
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"cbuiltins\neval\n(Vprint(1)\ntR.",  # GLOBAL builtins.eval, REDUCE
        b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x04exec\x94\x93\x94.",  # STACK_GLOBAL
        b"ccopyreg\n_reconstructor\n.",
        b"cnumpy.core.multiarray\n_reconstruct\n.",
        b"ctorch\nload\n.",
    ],
    ids=["eval", "stack-global-exec", "copyreg", "numpy-reconstruct", "torch-load"],
)
def test_every_other_global_is_refused(tmp_path, payload):
    path = zip_checkpoint(tmp_path / "odd.pt", payload)
    with pytest.raises(ConductorError, match="contains code or objects"):
        read_checkpoint(path)


def test_a_torch_saved_object_with_code_is_refused(torch, tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"noise_upsampler.0.weight": RunsCode(marker)}, path)
    expect_refusal(path, "contains code")
    assert not marker.exists()


def test_truncated_and_damaged_checkpoints(parity_dir, tmp_path):
    data = OFFICIAL_GENERATOR.read_bytes()
    for name, damaged in (
        ("half.pt", data[: len(data) // 2]),
        ("tail.pt", data[:-10]),
        ("flipped.pt", data[:60000] + bytes([data[60000] ^ 0xFF]) + data[60001:]),  # inside a storage: CRC
    ):
        path = tmp_path / name
        path.write_bytes(damaged)
        message = expect_refusal(
            path, f"Weights file '{name}' is truncated or not a PyTorch checkpoint; download it again."
        )
        assert "Error" not in message


def test_foreign_files(tmp_path):
    expect_refusal(tmp_path / "nope.pt", "does not exist")
    expect_refusal(tmp_path, "is a folder")
    (tmp_path / "empty.pt").write_bytes(b"")
    expect_refusal(tmp_path / "empty.pt", "is empty")
    other_zip = tmp_path / "photos.pt"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("a.txt", "hello")
    expect_refusal(other_zip, "truncated or not a PyTorch checkpoint")


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path):
    """A forged size: refused before any out-of-bounds read."""

    def one_tensor(size: int) -> Path:
        payload = (  # {"a": _rebuild_tensor_v2(storage '0' of 2 floats, offset 0, (size,), (1,), False, {})}
            b"\x80\x02}X\x01\x00\x00\x00actorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"
            b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQK\x00M"
            + size.to_bytes(2, "little")
            + b"\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRs."
        )
        path = zip_checkpoint(tmp_path / f"forged{size}.pt", payload)
        with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as archive:
            archive.writestr("archive/data/0", np.array([1.5, -2.0], np.float32).tobytes())
        return path

    np.testing.assert_array_equal(read_checkpoint(one_tensor(2))["a"], [1.5, -2.0])
    with pytest.raises(ConductorError, match="truncated or not a PyTorch checkpoint"):
        read_checkpoint(one_tensor(4096))


def test_the_legacy_format_is_refused_in_a_sentence(torch, tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"a": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    expect_refusal(path, "before 1.6 (the legacy format)", "re-save it")
