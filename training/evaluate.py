"""Evaluate generator weights on a ConductorMotion100-layout split, beside the published figures.

    python -m training.evaluate --weights runs/m2sgan/m2sgan_generator.safetensors --data DIR --split test \
        --m2snet-test M2SNet_test_official_pretrained.pt

Metrics (definitions in :mod:`training.metrics`):
MPE, RDE, SCE, SDP - the official ones (MPE needs ``--m2snet-test``);
BAS music->motion / motion->music - beat alignment, Gaussian tolerance ``--beat-sigma-s`` seconds;
FD - Frechet distance between 1-s means of the test M2S-Net's motion features, real vs generated;
diversity - mean distance between those feature vectors (generated, with the real value beside);
noise spread - mean keypoint distance between two generations with different noise.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import cast

import numpy as np
import torch

from core.neural.networks import SyncNet
from core.neural.weights import GENERATOR, SYNCNET, load_model
from training import metrics
from training.config import run_command
from training.data import ConductorMotionSplit, WindowDataset


def evaluate(
    weights: str,
    data: str,
    *,
    split: str = "test",
    window_s: int = 30,
    m2snet_test: str = "",
    seed: int = 0,
    beat_sigma_s: float = metrics.BEAT_SIGMA_S,
    device: str = "cpu",
    limit: int = 0,
) -> dict:
    """All metrics of the generator in ``weights`` on the windows of ``split``.

    Returns
    -------
    dict of str -> float
    """
    generator = load_model(weights, GENERATOR).model.to(device).eval()
    dataset = WindowDataset(ConductorMotionSplit(data, split, window_s=window_s))
    count = len(dataset) if not limit else min(limit, len(dataset))
    items = [dataset[i] for i in range(count)]
    mel = torch.from_numpy(np.stack([item["mel"] for item in items]))  # (N, T90, 128)
    real = torch.from_numpy(np.stack([item["motion"] for item in items]))  # (N, T30, 13, 2)

    def generate(noise_seed: int) -> torch.Tensor:
        noise = torch.randn(count, window_s, 8, generator=torch.Generator().manual_seed(noise_seed))
        with torch.no_grad():
            return torch.cat(
                [generator(mel[i : i + 4].to(device), noise[i : i + 4].to(device)).cpu() for i in range(0, count, 4)]
            )

    fake, other = generate(seed), generate(seed + 1)
    results = {"rde": metrics.rde(real, fake), "sce": metrics.sce(real, fake), "sdp": metrics.sdp(real, fake)}
    music_beats = [metrics.music_beats(m.numpy()) for m in mel]
    for name, motion in (("", fake), ("real ", real)):
        beats = [metrics.motion_beats(m.numpy()) for m in motion]
        results[f"{name}BAS music->motion"] = float(
            np.nanmean([metrics.beat_alignment(a, b, sigma_s=beat_sigma_s) for a, b in zip(music_beats, beats)])
        )
        results[f"{name}BAS motion->music"] = float(
            np.nanmean([metrics.beat_alignment(b, a, sigma_s=beat_sigma_s) for a, b in zip(music_beats, beats)])
        )
    results["noise spread"] = float((fake - other).norm(dim=-1).mean())
    if m2snet_test:
        encoder = cast(SyncNet, load_model(m2snet_test, SYNCNET).model).motion_encoder.to(device).eval()
        results["mpe"] = metrics.mpe(real, fake, encoder)
        real_vectors = metrics.pooled_features(metrics.motion_features(encoder, real))
        fake_vectors = metrics.pooled_features(metrics.motion_features(encoder, fake))
        results["FD"] = metrics.frechet_distance(real_vectors, fake_vectors)
        results["diversity"] = metrics.diversity(fake_vectors)
        results["real diversity"] = metrics.diversity(real_vectors)
    return results


def format_table(results: dict) -> str:
    """Our value beside the published one (where the paper gives one)."""
    lines = [f"{'metric':<24}{'ours':>12}{'published':>12}"]
    for name, value in results.items():
        published = metrics.PUBLISHED.get(name)
        shown = f"{published:>12.5f}" if published is not None else f"{'':>12}"
        lines.append(f"{name:<24}{value:>12.5f}{shown}" if not math.isnan(value) else f"{name:<24}{'n/a':>12}{shown}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="generator: .safetensors, official .pt or a training ckpt.pt")
    parser.add_argument("--data", required=True, help="ConductorMotion100-layout root")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--window-s", type=int, default=30, help="evaluate on non-overlapping windows of this length")
    parser.add_argument("--m2snet-test", default="", help="test-split M2S-Net for MPE, FD and diversity")
    parser.add_argument("--seed", type=int, default=0, help="noise seed")
    parser.add_argument("--beat-sigma-s", type=float, default=metrics.BEAT_SIGMA_S, help="beat tolerance in seconds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--limit", type=int, default=0, help="use at most this many windows (0 = all)")
    args = parser.parse_args(argv)
    results = evaluate(
        args.weights,
        args.data,
        split=args.split,
        window_s=args.window_s,
        m2snet_test=args.m2snet_test,
        seed=args.seed,
        beat_sigma_s=args.beat_sigma_s,
        device=args.device,
        limit=args.limit,
    )
    print(format_table(results))
    if not args.m2snet_test:
        print("MPE, FD and diversity skipped: give --m2snet-test.", file=sys.stderr)
    print(
        f"BAS sigma = {args.beat_sigma_s} s; music beats: librosa beat tracker on the mel onset strength; "
        "motion beats: minima of the wrists' speed."
    )
    return results


if __name__ == "__main__":
    run_command(main)
