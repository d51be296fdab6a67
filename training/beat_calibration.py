"""Fit the decoder's downbeat calibration and meter priors for a beat tracker's weights, on the
``val`` renders (training soundfonts, works never trained on), and write them into its model card.

    python -m training.beat_calibration --data /work/data/beats --weights runs/beats/beat_tracker.safetensors [--write]

The decoder (:mod:`core.beats.decoding`) scores a downbeat by ``w * (a * logit(x) + c)``, with
``x = D / max(B, D)`` the downbeat's share of the beat activation and ``w = B / (B + confidence)``
how surely a beat is there. ``a`` and ``c`` come from a logistic regression of "downbeat or another
beat" on the reference beats of the val renders (Newton's method, numpy), for each ``confidence``
of ``CONFIDENCES``, the one with the best log-likelihood kept. Then a bonus for every bar (added
to ``c``) and the log prior of a bar of 2 and of 3 (bars of 4: 0) are chosen on a grid by the sum
of beat F, downbeat F and meter accuracy of the whole decoder on the val renders. With ``--write`` the result goes into the card (``decoder``),
which :meth:`core.beats.decoding.DecoderSettings.from_card` reads. Refit whenever the weights
change: an uncalibrated downbeat term makes the meter with the fewest downbeats win.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

CONFIDENCES = (0.0, 0.01, 0.02, 0.05)
PRIOR_GRID = (-1.0, -0.5, -0.1, 0.3)  # log bonus a bar of 2 (and of 3) against a bar of 4
DOWNBEAT_SHIFTS = (0.0, 0.35, 0.7)  # added to the fitted intercept: a bonus for every bar


def val_activations(data: str, weights: str, *, limit: int = 0) -> list[tuple[np.ndarray, np.ndarray, dict]]:
    """(activations [shape=(T, 3), float32], sounding [shape=(T,), bool], labels) of each val
    render, by the numpy network."""
    import soundfile

    from core.beats.activations import load_beat_network
    from core.beats.learned_tracker import activations_of_signal, sounding_frames
    from training.beats import load_labels, render_folders

    network, _ = load_beat_network(weights)
    folders = render_folders(data, "val")
    out = []
    for folder in folders[:limit] if limit else folders:
        stereo, _ = soundfile.read(str(folder / "audio.flac"), dtype="float32", always_2d=True)
        mono = stereo.mean(axis=1)
        activations = activations_of_signal(network, mono)
        out.append((activations, sounding_frames(mono, activations.shape[0]), load_labels(folder)))
    return out


def beat_features(pieces: list[tuple[np.ndarray, np.ndarray, dict]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At every reference beat: logit of the downbeat's share x, the beat activation B and
    whether it is a downbeat, each [shape=(N,)]."""
    from core.beats.activations import FRAME_RATE_HZ
    from core.beats.decoding import DOWNBEAT_FLOOR, spread

    logits, beats, downbeat = [], [], []
    for activations, _, labels in pieces:
        frames = np.clip(np.round(np.asarray(labels["beats_s"]) * FRAME_RATE_HZ).astype(int), 0, len(activations) - 1)
        b, d = spread(activations[:, 0])[frames], spread(activations[:, 1])[frames]
        x = np.clip(d / np.maximum(np.maximum(b, d), 1e-6), DOWNBEAT_FLOOR, 1 - DOWNBEAT_FLOOR)
        logits.append(np.log(x) - np.log1p(-x))
        beats.append(b)
        downbeat.append(np.asarray(labels["beat_in_bar"]) == 0)
    return np.concatenate(logits), np.concatenate(beats), np.concatenate(downbeat)


def fit_logistic(features: np.ndarray, target: np.ndarray, *, iterations: int = 50) -> tuple[np.ndarray, float]:
    """Weights of ``p = sigmoid(features @ w)`` by Newton's method (a tiny ridge for safety), and
    the mean log-likelihood. ``features`` [shape=(N, P)], ``target`` [shape=(N,), bool]."""
    w = np.zeros(features.shape[1])
    y = target.astype(np.float64)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(features @ w)))
        gradient = features.T @ (y - p) - 1e-6 * w
        hessian = (features * (p * (1 - p))[:, None]).T @ features + 1e-6 * np.eye(w.size)
        step = np.linalg.solve(hessian, gradient)
        w += step
        if np.abs(step).max() < 1e-9:
            break
    z = features @ w
    likelihood = float(np.mean(y * -np.logaddexp(0, -z) + (1 - y) * -np.logaddexp(0, z)))
    return w, likelihood


def fit_calibration(pieces: list[tuple[np.ndarray, np.ndarray, dict]]) -> dict:
    """The downbeat calibration (a, c) and confidence with the best val log-likelihood."""
    logit, beat, downbeat = beat_features(pieces)
    best: dict = {}
    for confidence in CONFIDENCES:
        weight = beat / (beat + confidence) if confidence > 0 else np.ones_like(beat)
        (a, c), likelihood = fit_logistic(np.stack([weight * logit, weight], axis=1), downbeat)
        print(f"  confidence {confidence:<5g} a {a:.3f} c {c:.3f}  mean log-likelihood {likelihood:.4f}")
        if not best or likelihood > best["likelihood"]:
            best = {"downbeat_calibration": [round(a, 4), round(c, 4)], "downbeat_confidence": confidence}
            best["likelihood"] = likelihood
    return best


def choose_meter_prior(pieces: list[tuple[np.ndarray, np.ndarray, dict]], calibration: dict, *, jobs: int) -> dict:
    """The priors of bars of 2 and 3 (``PRIOR_GRID``) with the best beat F + downbeat F + meter
    accuracy of the whole decoder (:func:`core.beats.learned_tracker.track_from_activations`) on
    the val renders."""
    import multiprocessing

    a, c = calibration["downbeat_calibration"]
    grid = [
        ({**calibration, "downbeat_calibration": [a, round(c + shift, 4)]}, (float(p2), float(p3)))
        for shift in DOWNBEAT_SHIFTS
        for p2 in PRIOR_GRID
        for p3 in PRIOR_GRID
    ]
    global _PIECES
    _PIECES = pieces  # read by the forked workers
    with multiprocessing.get_context("fork").Pool(max(1, jobs)) as pool:
        scores = pool.map(_decoded_figures, grid, chunksize=1)
    best = int(np.argmax([sum(figures.values()) for figures in scores]))
    (chosen, (prior_2, prior_3)), figures = grid[best], scores[best]
    print(
        f"  downbeat intercept {chosen['downbeat_calibration'][1]:+.3f}, meter prior 2: {prior_2:+.2f}, "
        f"3: {prior_3:+.2f}: beat F {figures['beat_f']:.3f}, downbeat F {figures['downbeat_f']:.3f}, "
        f"meter right {figures['meter_right']:.3f} (val, the whole decoder)"
    )
    return {**chosen, "meter_prior": {"2": prior_2, "3": prior_3}}


_PIECES: list = []


def _decoded_figures(arguments: tuple[dict, tuple[float, float]]) -> dict[str, float]:
    """Mean beat F, downbeat F and meter right of the decoder with one calibration and prior."""
    from core.beats.learned_tracker import track_from_activations
    from core.beats.decoding import DecoderSettings
    from training.beat_evaluation import score_track

    calibration, (prior_2, prior_3) = arguments
    settings = DecoderSettings.from_card({"decoder": {**calibration, "meter_prior": {2: prior_2, 3: prior_3}}})
    keys = ("beat_f", "downbeat_f", "meter_right")
    totals = {key: 0.0 for key in keys}
    for activations, sounding, labels in _PIECES:
        figures = score_track(labels, track_from_activations(activations, sounding=sounding, settings=settings))
        for key in keys:
            totals[key] += figures[key] / len(_PIECES)
    return totals


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a training.beat_renders folder with a val/ split")
    parser.add_argument("--weights", required=True, help="the beat tracker's .safetensors (its .json card beside it)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many val renders (0 = all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes for the prior search")
    parser.add_argument("--write", action="store_true", help="write the fit into the model card")
    args = parser.parse_args(argv)
    pieces = val_activations(args.data, args.weights, limit=args.limit)
    print(f"{len(pieces)} val renders")
    calibration = fit_calibration(pieces)
    likelihood = calibration.pop("likelihood")
    fitted = choose_meter_prior(pieces, calibration, jobs=args.jobs)
    fitted["fitted_on"] = f"{len(pieces)} val renders of {args.data} (log-likelihood {likelihood:.4f})"
    print(json.dumps(fitted))
    if args.write:
        card_path = Path(args.weights).with_suffix(".json")
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        card["decoder"] = fitted
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        print(f"written into {card_path}")
    return fitted


if __name__ == "__main__":
    main()
