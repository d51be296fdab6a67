"""Process-group helpers: one process per device under ``torchrun``, nothing to do otherwise.

``torchrun --nproc_per_node=K`` sets RANK, LOCAL_RANK and WORLD_SIZE; we then join a process
group (NCCL on CUDA, gloo on CPU) and put each rank on its own GPU. Only rank 0 logs, shows
progress and writes files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from core.neural.inference import pick_device


@dataclasses.dataclass(frozen=True)
class Context:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def setup(device_name: str) -> Context:
    """Join the process group when started by torchrun; pick this rank's device."""
    device = pick_device(device_name)
    if "RANK" not in os.environ:
        return Context(rank=0, world=1, device=device)
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Context(rank=dist.get_rank(), world=dist.get_world_size(), device=device)


def mean_over_ranks(value: torch.Tensor, context: Context) -> float:
    """The mean of a scalar over all ranks (the value itself in one process)."""
    value = value.detach().float().reshape(1).clone()
    if context.distributed:
        dist.all_reduce(value)
        value /= context.world
    return float(value)


def gradient_sync(model: torch.nn.Module, *, last_micro_batch: bool) -> contextlib.AbstractContextManager:
    """DDP's no_sync for all but the last micro-batch of a step, so gradients are averaged over
    ranks once per step; nothing to hold back in one process."""
    if isinstance(model, DistributedDataParallel) and not last_micro_batch:
        return model.no_sync()
    return contextlib.nullcontext()


def barrier(context: Context) -> None:
    if context.distributed:
        dist.barrier()


def teardown(context: Context) -> None:
    if context.distributed:
        dist.destroy_process_group()
