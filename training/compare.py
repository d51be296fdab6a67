"""Evaluation on held-out pieces: how well each conductor's motion follows the music.

    python -m training.compare --data /tmp/vc_data --split test \
        --ours weights/virtualconductor_cpu_v1.safetensors \
        --official ../shared/parity/M2SGAN_official_pretrained.pt \
        --m2snet ../shared/parity/M2SNet_official_pretrained.pt --out bench/figures

For every sample of the split (whole samples, 30-60 s) it scores the motion of
(r) the dataset's own motion (the training target: the procedural conductor on the score's beats),
(a) the procedural conductor on the sample's audio (core.procedural.conductor.conduct, tracked beats),
(b) our generator, (c) the official generator, and (d) our generator given the music of another
held-out piece (a control: its motion should not follow this music).

Scores, against the sample's music beats: the score's exact beats (``beats.npy``, written by
training.build_dataset) where the sample has them, else librosa's tracker on the mel. With
training/metrics.py's definitions:
- ictus alignment music->motion: mean over the music's beats of exp(-d^2 / 2 sigma^2), sigma
  0.1 s, d the distance to the nearest ictus (the beating wrist's lowest point, where a
  conductor shows the beat); the headline score: does every beat of the music get a beat?
- ictus alignment motion->music: the same from the ictus times to the music's beats (are the
  conductor's beats on the music's beats?);
- ictus offset: the median signed time from each ictus to the nearest music beat;
- speed-minimum alignment, both ways: the same with the kinematic beats of the motion-generation
  literature (wrist speed minima), kept for comparison; a hand that bounces off the beat at
  speed has its speed minima at the top of the rebound instead;
- M2S-Net sync: the mean per-frame sync probability of the given M2S-Net (the official one: an
  independent judge, trained on real conductors);
- wrist speed: how much the hands move, the mean speed of both wrists in image heights per
  second (the alignment scores find beats in a motion of any size; this shows its size).

Writes ``evaluation.md`` (the table) and ``evaluation.png`` (a bar plot) into ``--out`` and prints
the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.audio.mel import MEL_FPS
from core.motion.keypoints import MOTION_FPS

METHODS = {
    "reference": "(r) training target: procedural on the score's beats",
    "procedural": "(a) procedural conductor (tracked beats)",
    "ours": "(b) our weights",
    "official": "(c) official weights",
    "shuffled": "(d) our weights on another piece's music (control)",
}
SCORES = {
    "ictus_music": "ictus alignment music→motion",
    "ictus_motion": "ictus alignment motion→music",
    "ictus_offset_s": "ictus − music beat (median s)",
    "bas_music": "speed-minimum alignment music→motion",
    "bas_motion": "speed-minimum alignment motion→music",
    "sync": "M2S-Net sync (mean p)",
    "wrist_speed": "wrist speed (image heights/s)",
}


BEATS_FROM = {
    "score": "the score's exact beats",
    "tracked": "librosa's tracker on the mel",
    "mixed": "the score's where the sample has them, else librosa's tracker",
}


def list_samples(root: Path, split: str) -> list[Path]:
    folders = sorted(f for f in (root / split).iterdir() if (f / "mel.npy").is_file())
    if not folders:
        raise SystemExit(f"'{root / split}' holds no samples.")
    return folders


def piece_of(folder: Path) -> str:
    """Samples are named <piece>_<take>_<k> by training.build_dataset."""
    return folder.name.split("_")[0]


def shuffled_partner(folders: list[Path], index: int) -> int:
    """The next sample (cyclically) that belongs to another piece."""
    for step in range(1, len(folders)):
        other = (index + step) % len(folders)
        if piece_of(folders[other]) != piece_of(folders[index]):
            return other
    raise SystemExit("The shuffled-music control needs samples of at least two pieces in the split.")


def generate(model, mel: np.ndarray, seed: int) -> np.ndarray:
    """Generator motion (T30, 13, 2) for a mel (T90, 128), noise drawn from ``seed``."""
    from core.neural.inference import generate_keypoints, make_noise, seconds_of_noise

    return generate_keypoints(model, mel, make_noise(seconds_of_noise(mel.shape[0]), seed=seed), device="cpu")


@torch.no_grad()
def sync_probability(net, mel: np.ndarray, motion: np.ndarray) -> float:
    """Mean per-frame sync probability of ``net`` (eval mode) for a mel (3T, 128) and motion (T, 13, 2)."""
    frames = min(motion.shape[0], mel.shape[0] // 3)
    mel_t = torch.from_numpy(np.ascontiguousarray(mel[: 3 * frames], dtype=np.float32))[None]
    motion_t = torch.from_numpy(np.ascontiguousarray(motion[:frames], dtype=np.float32))[None]
    return float(net(mel_t, motion_t).mean())


def sample_beats(folder: Path, mel: np.ndarray) -> tuple[np.ndarray, str]:
    """The music's beats (B,) in seconds and where they come from: the score's (``beats.npy``)
    when the sample has them, else "tracked" by librosa on the mel (T90, 128)."""
    from training import metrics

    path = folder / "beats.npy"
    if path.is_file():
        return np.load(path).astype(np.float64), "score"
    return metrics.music_beats(mel), "tracked"


def score_motion(mel: np.ndarray, music_beats: np.ndarray, motion: np.ndarray, net) -> dict[str, float]:
    """The scores of one motion (T30, 13, 2) against one sample's music: mel (T90, 128), beats (B,) s."""
    from training import metrics

    frames = min(motion.shape[0], mel.shape[0] // 3)
    motion = motion[:frames]
    kinematic = metrics.motion_beats(motion)
    ictus = metrics.ictus_beats(motion)
    beats = music_beats[music_beats < frames / MOTION_FPS]
    offsets = [float(k - beats[np.argmin(np.abs(beats - k))]) for k in ictus] if beats.size else []
    return {
        "ictus_music": metrics.beat_alignment(beats, ictus),
        "ictus_motion": metrics.beat_alignment(ictus, beats),
        "ictus_offset_s": float(np.median(offsets)) if offsets else math.nan,
        "bas_music": metrics.beat_alignment(beats, kinematic),
        "bas_motion": metrics.beat_alignment(kinematic, beats),
        "sync": sync_probability(net, mel, motion) if net is not None else math.nan,
        "wrist_speed": float(
            np.linalg.norm(np.diff(motion[:, list(metrics.WRISTS)], axis=0), axis=2).mean() * MOTION_FPS
        ),
    }


def beats_procedural(result: dict) -> bool:
    """Whether our weights follow the music better than the procedural conductor on the held-out
    pieces: a higher ictus alignment music->motion and a higher M2S-Net sync, with hands that move
    at least half as much. The bar a trained generator must clear before it ships as the default."""
    summary = result["summary"]
    if "procedural" not in summary:
        return False
    ours, procedural = summary["ours"], summary["procedural"]
    return (
        all(ours[score]["mean"] > procedural[score]["mean"] for score in ("ictus_music", "sync"))
        and ours["wrist_speed"]["mean"] >= 0.5 * procedural["wrist_speed"]["mean"]
    )


def evaluate(
    root: Path,
    split: str,
    *,
    ours: str,
    official: str | None,
    m2snet: str | None,
    seed: int = 0,
    limit: int = 0,
    log=print,
) -> dict:
    """Score every method on every sample; return per-sample rows and per-method summaries."""
    import soundfile

    from core.procedural.conductor import conduct
    from core.neural.weights import GENERATOR, SYNCNET, load_model

    folders = list_samples(root, split)[: limit or None]
    generators = {"ours": load_model(ours, GENERATOR).model}
    if official:
        generators["official"] = load_model(official, GENERATOR).model
    net = load_model(m2snet, SYNCNET).model if m2snet else None
    mels = [np.load(f / "mel.npy").astype(np.float32) for f in folders]
    rows = []
    for index, folder in enumerate(folders):
        mel = mels[index]
        music_beats, beats_from = sample_beats(folder, mel)
        motions = {"reference": np.load(folder / "motion.npy").astype(np.float32)}
        audio_path = folder / "audio.flac"
        if audio_path.is_file():
            samples, rate = soundfile.read(audio_path, dtype="float32")
            motions["procedural"] = conduct(samples, rate, seed=seed + index).without_lead_in().keypoints
        for name, model in generators.items():
            motions[name] = generate(model, mel, seed + index)
        motions["shuffled"] = generate(generators["ours"], mels[shuffled_partner(folders, index)], seed + index)
        row = {
            "sample": folder.name,
            "seconds": round(mel.shape[0] / MEL_FPS, 2),
            "music_beats": int(music_beats.size),
            "beats_from": beats_from,
        }
        for name, motion in motions.items():
            row[name] = score_motion(mel, music_beats, motion, net)
        rows.append(row)
        log(
            f"{folder.name}: "
            + "  ".join(
                f"{n} {row[n]['ictus_music']:.2f}/{row[n]['bas_music']:.2f}/{row[n]['sync']:.2f}"
                for n in METHODS
                if n in row
            )
        )
    summary: dict[str, Any] = {}
    for name in METHODS:
        present = [r[name] for r in rows if name in r]
        if not present:
            continue
        summary[name] = {}
        for score in SCORES:
            values = np.array([p[score] for p in present], dtype=np.float64)
            values = values[np.isfinite(values)]
            summary[name][score] = {
                "mean": float(values.mean()) if values.size else math.nan,
                "sem": float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else math.nan,
                "n": int(values.size),
            }
    sources = sorted({r["beats_from"] for r in rows})
    return {
        "split": split,
        "samples": len(rows),
        "seconds": float(sum(r["seconds"] for r in rows)),
        "beats_from": sources[0] if len(sources) == 1 else "mixed",
        "rows": rows,
        "summary": summary,
    }


def markdown_table(result: dict) -> str:
    lines = [
        f"Held-out `{result['split']}` split: {result['samples']} samples, {result['seconds'] / 60:.1f} min "
        f"(mean ± standard error over samples); music beats: {BEATS_FROM[result.get('beats_from', 'tracked')]}.",
        "",
        "| method | " + " | ".join(SCORES.values()) + " |",
        "|---|" + "---|" * len(SCORES),
    ]
    for name, label in METHODS.items():
        if name not in result["summary"]:
            continue
        cells = []
        for score in SCORES:
            value = result["summary"][name][score]
            cells.append(
                "n/a"
                if not math.isfinite(value["mean"])
                else f"{value['mean']:.3f} ± {value['sem']:.3f}"
                if math.isfinite(value["sem"])
                else f"{value['mean']:.3f}"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def bar_plot(result: dict, path: Path) -> None:
    """Grouped bars: the two beat alignments and the sync probability for each method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in METHODS if n in result["summary"]]
    shown = ("ictus_music", "ictus_motion", "bas_music", "sync")
    figure, axis = plt.subplots(figsize=(10, 4.2))
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        means = [result["summary"][name][s]["mean"] for s in shown]
        errors = [np.nan_to_num(result["summary"][name][s]["sem"]) for s in shown]
        axis.bar(
            np.arange(len(shown)) + (k - (len(names) - 1) / 2) * width,
            means,
            width,
            yerr=errors,
            capsize=2,
            label=METHODS[name],
        )
    axis.set_xticks(
        np.arange(len(shown)),
        [
            "ictus\nalignment\nmusic → motion",
            "ictus\nalignment\nmotion → music",
            "speed-minimum\nalignment\nmusic → motion",
            "M2S-Net sync\n(mean\nprobability)",
        ],
    )
    axis.set(
        ylim=(0, 1),
        ylabel="score (higher follows the music better)",
        title=f"Held-out {result['split']} split, {result['samples']} samples",
    )
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_card_metrics(weights: Path, result: dict, args: argparse.Namespace) -> None:
    """Put the evaluation summary (means and standard errors) into the weights' model card."""
    card_path = weights.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    card["metrics"] = {
        "split": f"{Path(args.data).name}/{result['split']}",
        "samples": result["samples"],
        "minutes": round(result["seconds"] / 60, 1),
        "command": "python -m training.compare "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if v not in (None, False, 0) and k != "write_card"
        ),
        "judge": "official M2S-Net (research-only checkpoint, used only to measure)" if args.m2snet else None,
        **{
            name: {
                score: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in values.items()}
                for score, values in scores.items()
            }
            for name, scores in result["summary"].items()
        },
    }
    card_path.write_text(json.dumps(card, indent=2) + "\n")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="dataset root built by training.build_dataset")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--ours", required=True, help="our generator weights (.safetensors)")
    parser.add_argument("--official", default=None, help="the official M2S-GAN generator .pt (row c; optional)")
    parser.add_argument("--m2snet", default=None, help="M2S-Net weights that judge sync (the official one)")
    parser.add_argument("--out", default="bench/figures", help="folder for evaluation.md/.png/.json")
    parser.add_argument("--seed", type=int, default=0, help="noise and procedural seeds (seed + sample index)")
    parser.add_argument("--limit", type=int, default=0, help="score at most this many samples (0 = all)")
    parser.add_argument(
        "--write-card",
        action="store_true",
        help="store the summary as 'metrics' in the model card (.json) beside --ours",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    result = evaluate(
        Path(args.data),
        args.split,
        ours=args.ours,
        official=args.official,
        m2snet=args.m2snet,
        seed=args.seed,
        limit=args.limit,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(result)
    (out / "evaluation.md").write_text(table)
    (out / "evaluation.json").write_text(json.dumps(result, indent=1))
    bar_plot(result, out / "evaluation.png")
    if args.write_card:
        write_card_metrics(Path(args.ours), result, args)
    print(table)
    print(
        "our weights beat the procedural conductor (ictus alignment music→motion and sync, half its movement): "
        + ("yes" if beats_procedural(result) else "no")
    )
    return result


if __name__ == "__main__":
    main()
