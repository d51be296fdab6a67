"""Two gloo ranks on the CPU (torchrun) against one process that accumulates the same two
micro-batches: the same global batch, so the same losses, weights and train-mode outputs.

Not compared: batch-norm running statistics (under DDP they are rank 0's), and biases of layers
that feed a batch norm: their gradient is zero up to rounding, and Adam/RMSprop scale that
rounding noise to full-size steps, so they differ between any two summation orders while
having no effect on the output (the train-mode outputs below show it). RMSprop's first steps are
close to sign steps of size 10 x lr, so in stage 2 any weight whose gradient is near zero moves by
rounding-decided amounts; there the generator is compared through the losses."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from conftest import OFFICIAL_M2SNET, PROJECT_ROOT
from core.neural.networks import Critic, SyncNet
from training import m2sgan, m2snet
from training.data import write_synthetic_dataset

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:nperseg")]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("toy"), counts={"train": 2, "val": 1}, seconds=(30, 32))


def torchrun(module: str, args: list[str]) -> None:
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", module, *args]
    finished = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]


def parameters_agree(single: dict, ranks: dict, atol: float = 1e-6) -> None:
    for name, tensor in single.items():
        if tensor.is_floating_point() and "running" not in name and not name.endswith("bias"):
            torch.testing.assert_close(tensor, ranks[name], rtol=1e-5, atol=atol, msg=name)


def outputs_agree(network: torch.nn.Module, single: dict, ranks: dict, *inputs: torch.Tensor) -> None:
    outputs = []
    for state in (single, ranks):
        network.load_state_dict(state)
        with torch.no_grad():
            outputs.append(network.train()(*inputs))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("stage", ["m2snet", "m2sgan"])
def test_two_ranks_agree_with_one_process(toy, tmp_path, stage):
    if stage == "m2snet":
        module, main = "training.m2snet", m2snet.main
        args = [
            "--data",
            str(toy),
            "--sample-s",
            "2",
            "--clip-s",
            "1",
            "--batch-size",
            "2",
            "--max-steps",
            "2",
            "--easy-epochs",
            "0",
            "--negatives",
            "super_hard",
            "--shift-max-s",
            "0.5",
            "--hard-gap-s",
            "1",
        ]
    else:
        module, main = "training.m2sgan", m2sgan.main
        args = [
            "--data",
            str(toy),
            "--sample-s",
            "6",
            "--batch-size",
            "2",
            "--max-steps",
            "2",
            "--critic-steps",
            "2",
            "--m2snet",
            str(OFFICIAL_M2SNET),
        ]
    args += ["--val-limit", "2", "--eval-every", "1000", "--no-progress", "--no-tensorboard", "--seed", "3"]
    torchrun(module, args + ["--out-dir", str(tmp_path / "ranks")])
    single = main(args + ["--out-dir", str(tmp_path / "single"), "--micro-batches", "2"])

    ranks = torch.load(tmp_path / "ranks" / "ckpt.pt", weights_only=True)
    one = torch.load(tmp_path / "single" / "ckpt.pt", weights_only=True)
    if stage == "m2snet":
        assert ranks["step"] == one["step"] == 2
        assert ranks["loss"] == pytest.approx(single["loss"], rel=1e-5)
        parameters_agree(one["model"], ranks["model"])
    else:  # two critic updates, then the generator's loss and update
        assert ranks["step"] == one["step"] == 2
        assert ranks["loss"]["critic"] == pytest.approx(single["loss"]["critic"], rel=1e-5, abs=1e-7)
        assert ranks["loss"]["generator"] == pytest.approx(single["loss"]["generator"], rel=1e-5, abs=1e-7)
        parameters_agree(one["critic"], ranks["critic"], atol=1e-4)
    torch.manual_seed(0)
    seconds = 2 if stage == "m2snet" else 6
    mel, motion = torch.rand(2, 90 * seconds, 128), 0.5 + 0.1 * torch.randn(2, 30 * seconds, 13, 2)
    if stage == "m2snet":
        outputs_agree(SyncNet(), one["model"], ranks["model"], mel, motion)
    else:  # the generator's single RMSprop step is a sign step: compared through the losses above
        outputs_agree(Critic(), one["critic"], ranks["critic"], motion)
