"""Inference speed: decode, mel and generator on the demo piece and on a 10-minute piece.

Prints seconds, real-time factor (audio seconds per compute second), the generator's GFLOP/s
(it costs 19.8 GFLOP per minute of audio) and peak resident memory, and the ratio of each to
its goal on a 2-core CPU: generator >= 50 GFLOP/s, mel >= 500x real time.

    python bench/inference.py [--weights PATH] [--minutes 10] [--threads N] [--device cpu]
                              [--runtime torch | onnxruntime | numpy]

``--runtime onnxruntime`` and ``numpy`` measure the generator without PyTorch (it is not imported:
run them with a Python that lacks it, too).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GENERATOR_GFLOP_PER_MINUTE = 19.8
GOAL_GENERATOR_GFLOPS = 50.0
GOAL_MEL_REALTIME = 500.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(function, *args, repeat: int = 1, **kwargs):
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function(*args, **kwargs)
        best = min(best, time.perf_counter() - started)
    return best, result


def bench_piece(label: str, path: Path, generator, device: str, repeat: int) -> None:
    from core.audio.decode import load_audio
    from core.neural.inference import generate_keypoints, make_noise, seconds_of_noise
    from core.audio.mel import mel_90hz

    decode_s, samples = timed(load_audio, path, repeat=repeat)
    duration_s = samples.shape[0] / 22_050
    mel_s, mel = timed(mel_90hz, samples, repeat=repeat)
    noise = make_noise(seconds_of_noise(mel.shape[0]), seed=0)
    generate_keypoints(generator, mel[:900], noise, device=device)  # warm-up: threads, kernels
    generator_s, _ = timed(generate_keypoints, generator, mel, noise, device=device, repeat=repeat)
    gflops = GENERATOR_GFLOP_PER_MINUTE * duration_s / 60.0 / generator_s
    print(f"\n{label}: {duration_s:.1f} s of audio ({path.name})")
    print(f"  {'stage':<10} {'seconds':>9} {'x real time':>12}")
    for stage, seconds in (("decode", decode_s), ("mel", mel_s), ("generator", generator_s)):
        print(f"  {stage:<10} {seconds:9.3f} {duration_s / seconds:12.1f}")
    print(
        f"  generator {gflops:.1f} GFLOP/s (goal {GOAL_GENERATOR_GFLOPS:.0f}: ratio {gflops / GOAL_GENERATOR_GFLOPS:.2f})"
    )
    print(
        f"  mel {duration_s / mel_s:.0f}x real time (goal {GOAL_MEL_REALTIME:.0f}x: ratio {duration_s / mel_s / GOAL_MEL_REALTIME:.2f})"
    )
    print(f"  peak resident memory so far {peak_rss_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--weights",
        default=str(ROOT.parent / "shared" / "parity" / "M2SGAN_official_pretrained.pt"),
        help="generator weights (any weights give the same speed)",
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the long piece")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=2, help="best of this many runs")
    parser.add_argument("--runtime", default="torch", choices=("torch", "onnxruntime", "numpy"))
    args = parser.parse_args()

    import soundfile

    from core.audio.decode import load_audio

    weights = Path(args.weights)
    if args.runtime == "torch":
        import torch

        from core.neural.networks import MotionGenerator
        from core.neural.weights import GENERATOR, load_model

        if args.threads:
            torch.set_num_threads(args.threads)
        generator = load_model(weights, GENERATOR).model if weights.is_file() else MotionGenerator().eval()
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}", end="")
    else:
        from core.neural.runtimes import open_generator

        opened = open_generator(weights, runtime=args.runtime)
        generator = opened.forward
        print(f"{opened.runtime} {opened.version} on the CPU", end="")
    print(f", weights {'random' if not weights.is_file() else weights.name}")
    demo = ROOT / "core" / "assets" / "demo_piece.ogg"
    bench_piece("demo piece", demo, generator, args.device, args.repeat)
    with tempfile.TemporaryDirectory() as folder:
        # A long piece made of the demo played over and over, alternately reversed so that no
        # two minutes are identical, written as FLAC so decoding is measured too.
        demo_samples = load_audio(demo)
        repeats = int(np.ceil(args.minutes * 60 * 22_050 / demo_samples.shape[0]))
        long_samples = np.concatenate([demo_samples if i % 2 == 0 else demo_samples[::-1] for i in range(repeats)])
        long_path = Path(folder) / "long_piece.flac"
        soundfile.write(str(long_path), long_samples[: int(args.minutes * 60 * 22_050)], 22_050)
        bench_piece(f"{args.minutes:g}-minute piece", long_path, generator, args.device, 1)


if __name__ == "__main__":
    main()
