"""What rank 0 of a training run writes as it goes: TensorBoard scalars under ``out_dir/tb`` and
a progress bar on stderr, each only when its config asks for it."""

from __future__ import annotations

import os
import sys
from typing import Any

from training.config import CommonConfig


def open_run_outputs(config: CommonConfig, *, step: int, total_steps: int, name: str) -> tuple[Any, Any]:
    """The (writer, progress bar) of a run on rank 0, either None where the config turns it off.

    A resumed run (``step`` > 0) purges TensorBoard events after its checkpoint, so the curves
    show each step once."""
    os.makedirs(config.out_dir, exist_ok=True)
    writer = progress = None
    if config.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(os.path.join(config.out_dir, "tb"), purge_step=step + 1 if step else None)
    if config.progress:
        from tqdm import tqdm

        progress = tqdm(total=total_steps, initial=step, desc=name, dynamic_ncols=True, file=sys.stderr)
    return writer, progress


def log_validation(writer: Any, progress: Any, metrics: dict[str, float], step: int) -> None:
    """A validation's figures: a TensorBoard scalar each (where a writer is open), and one line
    ``step N: name value ...`` through the progress bar or on stdout."""
    if writer is not None:
        for name, value in metrics.items():
            writer.add_scalar(name, value, step)
    message = f"step {step}: " + "  ".join(f"{name.split('/')[1]} {value:.4f}" for name, value in metrics.items())
    if progress is not None:
        progress.write(message)
    else:
        print(message, flush=True)
