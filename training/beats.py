"""Train the learned beat tracker on exactly labelled renders (:mod:`training.beat_renders`).

    python -m training.beats --data /work/data/beats                       # CPU configuration: ~2 h on 2 cores
    python -m training.beats --data DIR --resume auto                      # continue out_dir/ckpt.pt exactly
    python -m training.beats --data DIR --device cuda --amp --batch-size 64 --sample-s 30 \\
        --workers 8 --max-steps 30000 --channels 32 --eval-every 2000 --checkpoint-every 2000   # GPU

Recipe: random crops of ``sample_s`` seconds of the ``train`` renders, one a render per epoch,
each coloured on the fly by :func:`training.beat_augment.augment`; the network of
``training/beat_model.py`` on :func:`core.beats.activations.spectrogram_features`; binary cross
entropy against frame targets (1 on the labelled frame, 0.5 on the frames either side, as Böck
et al. widen them) for the beat, the downbeat and the beat's divisions; Adam with a linear
warm-up and a cosine decay. Validation: the loss on fixed, unaugmented crops of the ``val``
renders, and whole ``val`` renders tracked by the numpy decoders of core (beat F, any-level F,
downbeat F, meter) with ``mir_eval``. Exact resume: the data order and every crop's randomness
follow from (seed, epoch, item), the torch RNG is in the checkpoint.

Writes ``out_dir/ckpt.pt`` (the checkpoint dict), ``out_dir/tb/`` (TensorBoard) and
``out_dir/beat_tracker.safetensors`` with its model card ``beat_tracker.json``; copy both to
``weights/beat_tracker_<name>.*`` (and name it in ``core/installed_weights.py``) to ship them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from core.audio.decode import SAMPLE_RATE_HZ
from core.beats.activations import ACTIVATIONS, FRAME_RATE_HZ, spectrogram_features
from core.errors import ConductorError
from core.audio.mel import HOP_LENGTH
from core.neural.weights import save_weights
from training import distributed
from training.beat_model import BeatTCN
from training.config import (
    BeatTrackerConfig,
    build_config,
    load_checkpoint,
    parse,
    rng_state,
    run_command,
    save_checkpoint,
    set_rng_state,
)
from training.data import collate, epoch_batches, item_rng, rank_chunks
from training.run_outputs import log_validation, open_run_outputs

KIND = "beat-tracker-tcn"
LABEL_COLUMNS = (("beats_s", 0), ("downbeats_s", 1), ("divisions_s", 2))
VALIDATION_EPOCH = 2**31 - 1  # the epoch key of the fixed validation crops
UNLABELLED = -1.0  # a frame target left out of the loss


def render_folders(root: str | os.PathLike[str], split: str) -> list[Path]:
    """The render folders of a split that hold both ``audio.flac`` and ``labels.npz``, sorted."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise ConductorError(f"'{root}' has no {split}/ folder; build it with python -m training.beat_renders.")
    return sorted(p for p in folder.iterdir() if (p / "audio.flac").is_file() and (p / "labels.npz").is_file())


def pseudo_folders(config: BeatTrackerConfig, renders: int) -> list[Path]:
    """The pseudo-labelled folders of ``config.pseudo_labels``, each repeated so that they make
    about ``config.pseudo_share`` of an epoch beside ``renders`` labelled renders (none when the
    option is empty)."""
    if not config.pseudo_labels:
        return []
    folders = [p for p in sorted(Path(config.pseudo_labels).iterdir()) if (p / "labels.npz").is_file()]
    if not folders:
        raise ConductorError(
            f"'{config.pseudo_labels}' holds no pseudo-labelled folders; build them with "
            "python -m training.beat_pseudo_labels."
        )
    share = min(max(config.pseudo_share, 0.0), 0.9)
    repeat = max(1, round(share / (1 - share) * renders / len(folders)))
    return folders * repeat


def load_labels(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "labels.npz") as archive:
        return {name: archive[name] for name in archive.files}


def frame_targets(labels: dict[str, np.ndarray], offset_s: float, frames: int) -> np.ndarray:
    """Frame targets of a crop starting at ``offset_s``: 1 on each labelled frame, 0.5 beside it,
    ``UNLABELLED`` (left out of the loss) inside a head's ``unlabelled_<head>_s`` intervals (the
    pseudo-labels of :mod:`training.beat_pseudo_labels`; renders have none).

    Returns
    -------
    np.ndarray [shape=(frames, 3), float32]
        Columns in ``ACTIVATIONS`` order (beat, downbeat, division), at ``FRAME_RATE_HZ``.
    """
    targets = np.zeros((frames, len(ACTIVATIONS)), dtype=np.float32)
    for name, column in LABEL_COLUMNS:
        frame = np.round((np.asarray(labels[name], float) - offset_s) * FRAME_RATE_HZ).astype(int)
        for shift, value in ((-1, 0.5), (1, 0.5), (0, 1.0)):
            at = frame + shift
            at = at[(at >= 0) & (at < frames)]
            targets[at, column] = np.maximum(targets[at, column], value)
        for start_s, end_s in np.asarray(labels.get(f"unlabelled_{ACTIVATIONS[column]}_s", np.zeros((0, 2)))):
            low = max(0, int(np.ceil((start_s - offset_s) * FRAME_RATE_HZ)))
            high = min(frames, int(np.floor((end_s - offset_s) * FRAME_RATE_HZ)) + 1)
            targets[low:high, column] = UNLABELLED
    return targets


def has_sure_bars(labels: dict[str, np.ndarray]) -> bool:
    """Whether the labels give every downbeat (renders do; pseudo-labels not always)."""
    return np.asarray(labels.get("unlabelled_downbeat_s", np.zeros((0, 2)))).size == 0


class RenderCrops(torch.utils.data.Dataset):
    """Crops of renders. Key: (render index, epoch); item: ``features`` (T, 64) and ``targets`` (T, 3).

    The crop's start and its augmentation come from :func:`training.data.item_rng` of (seed,
    epoch, index), so an item is the same whenever and wherever it is read.
    """

    def __init__(
        self,
        folders: list[Path],
        *,
        sample_s: float,
        augment: bool,
        seed: int,
        beatless: float = 0.0,
        level_ramps: float = 0.0,
        meter_splice: float = 0.0,
    ) -> None:
        import soundfile

        self.folders = folders
        self.crop = int(round(sample_s * SAMPLE_RATE_HZ))
        self.augment = augment
        self.beatless = beatless
        self.level_ramps = level_ramps
        self.meter_splice = meter_splice
        self.seed = seed
        self.lengths = [soundfile.info(str(f / "audio.flac")).frames for f in folders]
        self.labels = [load_labels(f) for f in folders]

    def __len__(self) -> int:
        return len(self.folders)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, np.ndarray]:
        from training.beat_augment import augment, beatless_stretch, level_ramp

        index, epoch = key
        rng = item_rng(self.seed, epoch, index)
        stereo, labels, start = self.crop_of(index, rng)
        mono = augment(stereo, rng) if self.augment else stereo.mean(axis=1)
        quiet = beatless_stretch(mono, rng) if self.augment and rng.random() < self.beatless else None
        if self.augment and self.level_ramps and rng.random() < self.level_ramps:
            mono = level_ramp(mono, rng)
        features = spectrogram_features(mono)  # (T, 64)
        targets = frame_targets(labels, start / SAMPLE_RATE_HZ, features.shape[0])
        if quiet is not None:  # frames centred inside the stretch (frame i is centred on sample 256 i)
            targets[-(-quiet.start // HOP_LENGTH) : (quiet.stop - 1) // HOP_LENGTH + 1] = 0.0
        return {"features": features, "targets": targets}

    def crop_of(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
        """A crop of render ``index`` (stereo [shape=(crop, 2), float32]), its labels and its start
        (samples): of the render as it is, or (with probability ``meter_splice`` when augmenting)
        of the render re-cut into another meter (:func:`training.beat_augment.splice_meter`)."""
        import soundfile

        from training.beat_augment import splice_meter

        path = str(self.folders[index] / "audio.flac")
        labels = self.labels[index]
        spliced = None
        if self.augment and self.meter_splice and rng.random() < self.meter_splice and has_sure_bars(labels):
            whole, _ = soundfile.read(path, dtype="float32", always_2d=True)
            spliced = splice_meter(_two_channels(whole), labels, rng)
        if spliced is not None:
            audio, labels = spliced
            start = int(rng.integers(0, max(1, audio.shape[0] - self.crop + 1)))
            stereo = audio[start : start + self.crop]
        else:
            start = int(rng.integers(0, max(1, self.lengths[index] - self.crop + 1)))
            stereo, _ = soundfile.read(path, start=start, frames=self.crop, dtype="float32", always_2d=True)
        stereo = _two_channels(stereo)
        if stereo.shape[0] < self.crop:  # a render shorter than a crop ends in silence
            stereo = np.pad(stereo, ((0, self.crop - stereo.shape[0]), (0, 0)))
        return stereo, labels, start


def _two_channels(audio: np.ndarray) -> np.ndarray:
    """``audio`` [shape=(n, c), float32] as stereo [shape=(n, 2)] (mono repeated, more channels cut)."""
    return np.repeat(audio, 2, axis=1) if audio.shape[1] == 1 else audio[:, :2]


def initialise_from(model: BeatTCN, path: str) -> None:
    """``model`` from finished weights (a ``.safetensors`` of this network with as many or fewer
    time blocks): the tensors they have are copied; a block they lack keeps its random dilated
    convolution and gets a zero mix, so it passes its input on unchanged and the network starts
    out computing exactly what the weights did (longer context is then learned on top)."""
    from safetensors.torch import load_file

    tensors = load_file(path)
    own = model.state_dict()
    missing = [name for name in own if name not in tensors]
    if any(not name.startswith("blocks.") for name in missing) or any(name not in own for name in tensors):
        raise ConductorError(
            f"'{path}' is not a beat tracker with this network's layout; train without --init-weights."
        )
    for name, value in tensors.items():
        if own[name].shape != value.shape:
            raise ConductorError(f"'{path}' has {name} shaped {tuple(value.shape)}, not {tuple(own[name].shape)}.")
    with torch.no_grad():
        for name in missing:
            if ".mix." in name:
                own[name].zero_()
    model.load_state_dict({**own, **tensors})


def loader(dataset: RenderCrops, chunks: list[list], workers: int) -> torch.utils.data.DataLoader:
    """Batches of ``chunks`` (lists of keys) in order; its own generator, so creating it never
    draws from the torch RNG that dropout uses (exact resume mid-epoch)."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=chunks,
        collate_fn=collate,
        num_workers=workers,
        generator=torch.Generator().manual_seed(0),
    )


def heads_loss(logits: torch.Tensor, targets: torch.Tensor, config: BeatTrackerConfig) -> tuple[torch.Tensor, list]:
    """Weighted sum of the three heads' binary cross entropies (each the mean over the frames of
    all items whose target is not ``UNLABELLED``; 0 for a head with none)."""
    each = []
    for c in range(len(ACTIVATIONS)):
        labelled = (targets[..., c] >= 0).float()
        frame_loss = F.binary_cross_entropy_with_logits(
            logits[..., c].float(), targets[..., c].clamp(min=0.0), reduction="none"
        )
        each.append((frame_loss * labelled).sum() / labelled.sum().clamp(min=1.0))
    total = each[0] + config.downbeat_weight * each[1] + config.division_weight * each[2]
    return total, [float(e.detach()) for e in each]


def learning_rate(config: BeatTrackerConfig, step: int, total_steps: int) -> float:
    """Linear warm-up over ``warmup_steps``, then a cosine decay to ``lr_floor * lr`` at the end."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps))
    return config.lr * (config.lr_floor + (1 - config.lr_floor) * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def activations_of(model: BeatTCN, features: np.ndarray, device: torch.device) -> np.ndarray:
    """Sigmoid outputs (T, 3) of the model in eval mode on a whole piece's features (T, 64)."""
    was_training = model.training
    model.eval()
    logits = model(torch.from_numpy(features)[None].to(device))[0].float()
    model.train(was_training)
    return torch.sigmoid(logits).cpu().numpy()


def validate(
    model: BeatTCN, val_crops: RenderCrops, config: BeatTrackerConfig, device: torch.device
) -> tuple[dict, dict]:
    """Validation loss on fixed crops, and tracking figures on whole renders; also one piece's
    activations for the TensorBoard figure."""
    import soundfile

    from core.beats.learned_tracker import levelling_gain_db, sounding_frames, track_from_activations
    from training.beat_evaluation import score_track

    count = len(val_crops) if not config.val_limit else min(config.val_limit, len(val_crops))
    losses = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for first in range(0, count, config.batch_size):
            batch = collate(
                [val_crops[(i, VALIDATION_EPOCH)] for i in range(first, min(first + config.batch_size, count))]
            )
            logits = model(batch["features"].to(device))
            losses.append(float(heads_loss(logits, batch["targets"].to(device), config)[0]))
    model.train(was_training)
    figures: dict[str, list[float]] = {}
    example = {}
    for index in range(min(config.val_pieces, len(val_crops))):
        folder = val_crops.folders[index]
        stereo, _ = soundfile.read(str(folder / "audio.flac"), dtype="float32", always_2d=True)
        mono = stereo.mean(axis=1)
        features = spectrogram_features(
            mono, gain_db=levelling_gain_db(mono, 1 + mono.size // HOP_LENGTH)
        )  # levelled, as core
        activations = activations_of(model, features, device)
        track = track_from_activations(activations, sounding=sounding_frames(mono, activations.shape[0]))
        for name, value in score_track(val_crops.labels[index], track).items():
            figures.setdefault(name, []).append(value)
        if index == 0:
            example = {"activations": activations, "labels": val_crops.labels[index]}
    metrics = {"val/loss": float(np.mean(losses)) if losses else float("nan")}
    metrics.update({f"val/{name}": float(np.mean(values)) for name, values in figures.items()})
    return metrics, example


def plot_activations(example: dict, seconds: float = 12.0):
    """Figure of a validation piece's first seconds: the three activations and the labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    activations, labels = example["activations"], example["labels"]
    frames = min(activations.shape[0], int(seconds * FRAME_RATE_HZ))
    time_s = np.arange(frames) / FRAME_RATE_HZ
    figure, axes = plt.subplots(3, 1, figsize=(9, 5), sharex=True)
    for axis, (name, column) in zip(axes, LABEL_COLUMNS):
        axis.plot(time_s, activations[:frames, column], lw=0.8)
        marks = np.asarray(labels[name])
        axis.vlines(marks[marks < seconds], 0, 1, colors="tab:red", lw=0.6, alpha=0.6)
        axis.set(ylabel=ACTIVATIONS[column], ylim=(0, 1))
    axes[-1].set(xlabel="time (s)")
    figure.tight_layout()
    return figure


def data_card(root: str) -> dict:
    """What the model card says of the data: the manifest's summary."""
    manifest_path = Path(root) / "manifest.json"
    if not manifest_path.is_file():
        return {"root": root}
    manifest = json.loads(manifest_path.read_text())
    ok = [r for r in manifest.get("renders", []) if r.get("ok")]
    kinds: dict[str, int] = {}
    for render in ok:
        kinds[render["source"]["kind"]] = kinds.get(render["source"]["kind"], 0) + 1
    return {
        "built_with": manifest.get("built_with"),
        "hours": manifest.get("hours"),
        "split_hours": manifest.get("split_hours"),
        "renders": len(ok),
        "renders_by_kind": kinds,
        "works": len({r["work"] for r in ok}),
        "training_soundfonts": manifest.get("training_soundfonts"),
        "held_out_soundfont": manifest.get("held_out_soundfont"),
        "music": "music21 corpus scores (public-domain compositions) and sequenced MIDI files of Debian packages "
        "(openttd-openmsx, GPL-2; planetblupi-music-midi, GPL-3+), rendered by training.beat_renders "
        "with FluidSynth",
    }


def pseudo_card(root: str) -> dict | None:
    """What the model card says of the self-training data: the pseudo-label manifest's summary."""
    manifest_path = Path(root) / "manifest.json"
    if not root or not manifest_path.is_file():
        return None
    manifest = json.loads(manifest_path.read_text())
    return {
        key: manifest.get(key) for key in ("teacher", "audio_root", "thresholds", "hours_sure", "hours_bars_sure")
    } | {"sources": sorted({r["source"].split("/")[0] for r in manifest.get("recordings", []) if r.get("segments")})}


def main(argv: list[str] | None = None) -> dict:
    given = parse(BeatTrackerConfig, argv)
    checkpoint = None
    if given.get("resume"):
        checkpoint = load_checkpoint(given["resume"], given.get("out_dir", BeatTrackerConfig.out_dir))
    config = build_config(BeatTrackerConfig, given, checkpoint["config"] if checkpoint else None)
    context = distributed.setup(config.device)
    device = context.device

    # ---------------------------------------------------------------- data
    renders = render_folders(config.data, "train")
    train_set = RenderCrops(
        renders + pseudo_folders(config, len(renders)),
        sample_s=config.sample_s,
        augment=config.augment,
        seed=config.seed,
        beatless=config.beatless,
        level_ramps=config.level_ramps,
        meter_splice=config.meter_splice,
    )
    val_set = RenderCrops(render_folders(config.data, "val"), sample_s=config.sample_s, augment=False, seed=config.seed)
    steps_per_epoch = len(train_set) // config.batch_size
    if steps_per_epoch == 0:
        raise ConductorError(f"{len(train_set)} training renders are fewer than one batch of {config.batch_size}.")
    total_steps = config.max_steps or config.epochs * steps_per_epoch
    eval_every = config.eval_every or config.eval_every_epochs * steps_per_epoch

    # ---------------------------------------------------------------- model and optimiser
    torch.manual_seed(config.seed)
    model = (
        BeatTCN(
            channels=config.channels,
            frontend_channels=config.frontend_channels,
            blocks=config.blocks,
            dropout=config.dropout,
        )
        .to(device)
        .train()
    )
    if config.init_weights and checkpoint is None:
        initialise_from(model, config.init_weights)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    step = 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        set_rng_state(checkpoint["rng"])
        step = checkpoint["step"]
    wrapped: torch.nn.Module = (
        torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if context.distributed
        else model
    )
    autocast = (
        (lambda: torch.autocast("cuda", dtype=torch.bfloat16))
        if config.amp and device.type == "cuda"
        else contextlib.nullcontext
    )

    # ---------------------------------------------------------------- rank-0 side effects
    writer = progress = None
    if context.main:
        writer, progress = open_run_outputs(config, step=step, total_steps=total_steps, name="beats")
    metrics: dict = dict(checkpoint.get("metrics", {})) if checkpoint else {}
    loss_value = float(checkpoint.get("loss", float("nan"))) if checkpoint else float("nan")
    history: list[float] = []

    def write_checkpoint() -> None:
        save_checkpoint(
            os.path.join(config.out_dir, "ckpt.pt"),
            {
                "kind": KIND,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "config": dataclasses.asdict(config),
                "step": step,
                "rng": rng_state(),
                "loss": loss_value,
                "metrics": metrics,
                "architecture": model.arguments,
            },
        )

    # ---------------------------------------------------------------- training loop
    started = time.perf_counter()
    first_step = step
    out_of_time = False
    while step < total_steps and not out_of_time:
        epoch, position = divmod(step, steps_per_epoch)
        batches = epoch_batches(len(train_set), config.batch_size, seed=config.seed, epoch=epoch)[position:]
        batches = batches[: total_steps - step]
        chunks = [
            [(i, epoch) for i in chunk]
            for batch in batches
            for chunk in rank_chunks(batch, rank=context.rank, world=context.world, micro_batches=config.micro_batches)
        ]
        batch_iterator = iter(loader(train_set, chunks, config.workers))
        for _ in batches:
            # forward, backward (micro-batches accumulate; DDP averages over ranks on the last)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step, total_steps)
            loss_sum = torch.zeros((), device=device)
            head_sums = np.zeros(len(ACTIVATIONS))
            for micro in range(config.micro_batches):
                batch = next(batch_iterator)
                features = batch["features"].to(device, non_blocking=True)  # (n, T, 64)
                targets = batch["targets"].to(device, non_blocking=True)  # (n, T, 3)
                last = micro == config.micro_batches - 1
                with distributed.gradient_sync(wrapped, last_micro_batch=last):
                    with autocast():
                        logits = wrapped(features)  # (n, T, 3)
                    loss, heads = heads_loss(logits, targets, config)
                    (loss / config.micro_batches).backward()
                loss_sum += loss.detach() / config.micro_batches
                head_sums += np.array(heads) / config.micro_batches
            # update
            if config.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_value = distributed.mean_over_ranks(loss_sum, context)
            history.append(loss_value)

            # logging
            if writer is not None and (step % config.log_every == 0 or step == total_steps):
                writer.add_scalar("train/loss", loss_value, step)
                for name, value in zip(ACTIVATIONS, head_sums):
                    writer.add_scalar(f"train/loss_{name}", value, step)
                writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], step)
                writer.add_scalar("train/epoch", epoch, step)
                writer.add_scalar("train/steps_per_s", (step - first_step) / (time.perf_counter() - started), step)
            if progress is not None:
                progress.set_postfix(loss=f"{loss_value:.4f}", epoch=epoch)
                progress.update(1)

            # time limit: stop after this step, validated and checkpointed (--resume continues exactly)
            if config.max_minutes > 0:
                late = float(time.perf_counter() - started > 60.0 * config.max_minutes)
                out_of_time = distributed.mean_over_ranks(torch.tensor(late), context) > 0

            # validation (rank 0; the others wait)
            if step % eval_every == 0 or step == total_steps or out_of_time:
                if context.main:
                    metrics, example = validate(model, val_set, config, device)
                    log_validation(writer, progress, metrics, step)
                    if writer is not None and example:
                        writer.add_figure("val/activations", plot_activations(example), step)
                distributed.barrier(context)

            # checkpoint
            if context.main and (step % config.checkpoint_every == 0 or step == total_steps or out_of_time):
                write_checkpoint()
            if out_of_time:
                break

    # ---------------------------------------------------------------- final weights
    if context.main:
        if progress is not None:
            progress.close()
        card = {
            "id": f"beat-tracker-{os.path.basename(os.path.normpath(config.out_dir))}",
            "model": KIND,
            "architecture": model.arguments,
            "inputs": f"core.beats.activations.spectrogram_features (64 bands, {FRAME_RATE_HZ:.2f} frames/s)",
            "outputs": list(ACTIVATIONS),
            "data": data_card(config.data),
            "pseudo_labels": pseudo_card(config.pseudo_labels),
            "config": dataclasses.asdict(config),
            "metrics": metrics,
            "steps": step,
            "licence": "GPL-3.0-or-later (made only from public-domain scores, free soundfonts and MIDI files, "
            "and this project's code)",
        }
        save_weights(model, os.path.join(config.out_dir, "beat_tracker.safetensors"), card)
        if writer is not None:
            writer.close()
    distributed.teardown(context)
    return {"step": step, "loss": loss_value, "metrics": metrics, "history": history}


if __name__ == "__main__":
    run_command(main)
