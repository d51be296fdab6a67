"""Steps per second of both training stages at the recipe's batch sizes and clip lengths, on a
synthetic dataset, and the projected time of the full recipe on ConductorMotion100.

    python bench/training.py [--device cpu|cuda] [--steps 3]

Each stage runs twice (1 step, then 1 + ``steps``); the difference divided by ``steps`` is the
time per step without start-up and the final validation. Projection: ConductorMotion100 train
split ~ 100 h in 60-s samples -> 12,000 windows of 30 s (stage 1 and 2 alike).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import m2sgan, m2snet  # noqa: E402
from training.config import M2SGANConfig, M2SNetConfig  # noqa: E402
from training.data import write_synthetic_dataset  # noqa: E402

TRAIN_WINDOWS_30S = 100 * 3600 // 30


def seconds_per_step(main, args: list[str], steps: int) -> float:
    times = []
    for count in (1, 1 + steps):
        started = time.perf_counter()
        main(args + ["--max-steps", str(count)])
        times.append(time.perf_counter() - started)
    return (times[1] - times[0]) / steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument(
        "--m2snet",
        default=str(Path(__file__).resolve().parent.parent.parent / "shared/parity/M2SNet_official_pretrained.pt"),
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = write_synthetic_dataset(Path(folder) / "data", counts={"train": 10, "val": 1}, seconds=(60, 61))
        common = [
            "--data",
            str(data),
            "--device",
            args.device,
            "--val-limit",
            "2",
            "--eval-every",
            "100000",
            "--no-progress",
            "--no-tensorboard",
        ]
        stage1 = seconds_per_step(
            m2snet.main, common + ["--out-dir", f"{folder}/s1", "--negatives", "hard"], args.steps
        )
        stage2 = seconds_per_step(
            m2sgan.main, common + ["--out-dir", f"{folder}/s2", "--m2snet", args.m2snet], args.steps
        )
    for name, seconds, config in (
        ("stage 1 (M2S-Net)", stage1, M2SNetConfig()),
        ("stage 2 (M2S-GAN)", stage2, M2SGANConfig()),
    ):
        total_steps = config.epochs * (TRAIN_WINDOWS_30S // config.batch_size)
        print(
            f"{name}: {1 / seconds:.4f} steps/s (batch {config.batch_size}); full recipe {total_steps} steps "
            f"= {total_steps * seconds / 3600:.0f} h"
        )


if __name__ == "__main__":
    main()
